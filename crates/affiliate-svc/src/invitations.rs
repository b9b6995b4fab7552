//! The invitations read model (decision 0022): one document per invitation,
//! folded by the domain's own [`Invitation::sent`] and [`Invitation::apply`].
//! A shop's outreach holds the invitations sent within
//! [`crate::domain::INVITATION_KEPT_DAYS`]; this read model holds every one,
//! so an archived invitation is still listed (ListInvitationHistory) and
//! its id stays taken.

use crate::domain::{Event, Invitation};
use sellerdesk_runtime::records::{Record, Records};

/// Where the invitations are: index (and checkpoint) `affiliate-invitations`,
/// written from the shops' streams under the lease `affiliate:invitations`.
pub const INVITATIONS: Records = Records {
    index: "affiliate-invitations",
    stream_prefix: crate::app::SHOP_STREAM_PREFIX,
};

impl Record for Invitation {
    type Event = Event;

    fn id_of(event: &Event) -> Option<&str> {
        match event {
            Event::InvitationSent { invitation_id, .. }
            | Event::InvitationAnswered { invitation_id, .. } => Some(invitation_id),
            _ => None,
        }
    }

    fn started(event: &Event) -> Option<Self> {
        Invitation::sent(event)
    }

    fn apply(&mut self, event: &Event) {
        Invitation::apply(self, event)
    }

    fn span(&self) -> (i64, Option<i64>) {
        (self.sent_at.timestamp_millis(), None)
    }
}
