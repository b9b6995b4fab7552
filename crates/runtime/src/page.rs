//! One paging rule for every list RPC: the same page sizes, the same
//! INVALID_ARGUMENT for a size out of range or a token that is not ours, and
//! one opaque token format.
//!
//! A token is `p1.` then base64url of the cursor: `a:<key>` (the page
//! continues after that key, for lists in key order) or `o:<anchor>:<offset>`
//! (an offset into a list that was `anchor` long when paging began, for
//! ranked or newest-first lists, so items added meanwhile do not shift pages).

use crate::errors;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use sellerdesk_api::common::v1::{PageRequest, PageResponse};
use tonic::Status;

/// Items a page holds when the request says 0.
pub const DEFAULT_PAGE: usize = 50;
/// The most a page may hold; more is INVALID_ARGUMENT, never silently capped.
pub const MAX_PAGE: usize = 500;

const PREFIX: &str = "p1.";

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The first page.
    Start,
    /// After this key (lists in key order).
    After(String),
    /// `offset` items into a list that was `anchor` long when paging began.
    Offset { anchor: u64, offset: u64 },
}

/// A request's page: its size (by the one rule) and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub size: usize,
    pub cursor: Cursor,
}

impl Page {
    /// Reads `page` (absent: the first page of the default size).
    pub fn of(page: Option<&PageRequest>) -> Result<Self, Status> {
        let (size, token) = page.map_or((0, ""), |p| (p.page_size, p.page_token.as_str()));
        let size = match size as usize {
            0 => DEFAULT_PAGE,
            n if n > MAX_PAGE => {
                return Err(errors::invalid_argument(&[(
                    "page.page_size",
                    format!("at most {MAX_PAGE} (0 for {DEFAULT_PAGE})"),
                )]))
            }
            n => n,
        };
        Ok(Self {
            size,
            cursor: decode(token)?,
        })
    }

    /// The key a key-ordered page starts after ("" for the first page).
    pub fn after_key(&self) -> Result<&str, Status> {
        match &self.cursor {
            Cursor::Start => Ok(""),
            Cursor::After(key) => Ok(key),
            Cursor::Offset { .. } => Err(not_ours()),
        }
    }

    /// Where a page of a time-ordered read model starts: after the
    /// document of the previous page's last `(starts_at millis, id)`; None
    /// for the first page. Made by [`Cursor::after_instant`].
    pub fn after_instant(&self) -> Result<Option<(i64, String)>, Status> {
        match self.after_key()? {
            "" => Ok(None),
            key => key
                .split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .map(Some)
                .ok_or_else(not_ours),
        }
    }

    /// This page of a map in key order, of the values `keep` keeps, and the
    /// response's page: the next one starts after this page's last key.
    pub fn keyed<'a, V>(
        &self,
        map: &'a std::collections::BTreeMap<String, V>,
        keep: impl Fn(&V) -> bool,
    ) -> Result<(Vec<&'a V>, Option<PageResponse>), Status> {
        use std::ops::Bound::{Excluded, Unbounded};
        let mut items: Vec<(&String, &V)> = map
            .range::<str, _>((Excluded(self.after_key()?), Unbounded))
            .filter(|(_, v)| keep(v))
            .take(self.size.saturating_add(1))
            .collect();
        let page = self.trim(&mut items, |(k, _)| Cursor::After((*k).clone()));
        Ok((items.into_iter().map(|(_, v)| v).collect(), page))
    }

    /// Cuts `items`, read one past the page's size, to the page, and says
    /// where the next page starts (at `cursor` of the page's last item),
    /// if there is one.
    pub fn trim<T>(
        &self,
        items: &mut Vec<T>,
        cursor: impl Fn(&T) -> Cursor,
    ) -> Option<PageResponse> {
        let more = items.len() > self.size;
        items.truncate(self.size);
        next(more.then(|| items.last().map(cursor)).flatten())
    }

    /// How many items to read for a page: one past its size, so that
    /// [`Self::trim`] knows whether a next page exists.
    pub fn read_ahead(&self) -> i64 {
        i64::try_from(self.size).map_or(i64::MAX, |n| n.saturating_add(1))
    }

    /// The (anchor, offset) an offset page starts at (None, 0 for the first page).
    pub fn offset(&self) -> Result<(Option<u64>, u64), Status> {
        match &self.cursor {
            Cursor::Start => Ok((None, 0)),
            Cursor::Offset { anchor, offset } => Ok((Some(*anchor), *offset)),
            Cursor::After(_) => Err(not_ours()),
        }
    }
}

impl Cursor {
    /// After the document that starts at `millis` and has this id: the next
    /// page of a time-ordered read model ([`Page::after_instant`]).
    pub fn after_instant(millis: i64, id: &str) -> Self {
        Cursor::After(format!("{millis}:{id}"))
    }
}

fn not_ours() -> Status {
    errors::invalid_argument(&[(
        "page.page_token",
        "not a token from this list: pass next_page_token as it came".into(),
    )])
}

fn decode(token: &str) -> Result<Cursor, Status> {
    if token.is_empty() {
        return Ok(Cursor::Start);
    }
    let text = token
        .strip_prefix(PREFIX)
        .and_then(|b| B64.decode(b).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(not_ours)?;
    if let Some(key) = text.strip_prefix("a:") {
        return Ok(Cursor::After(key.to_owned()));
    }
    let parsed = text.strip_prefix("o:").and_then(|rest| {
        let (anchor, offset) = rest.split_once(':')?;
        Some(Cursor::Offset {
            anchor: anchor.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    });
    parsed.ok_or_else(not_ours)
}

/// The response's page: a token for where the next page starts, or none.
pub fn next(cursor: Option<Cursor>) -> Option<PageResponse> {
    let next_page_token = match cursor {
        None | Some(Cursor::Start) => String::new(),
        Some(Cursor::After(key)) => format!("{PREFIX}{}", B64.encode(format!("a:{key}"))),
        Some(Cursor::Offset { anchor, offset }) => {
            format!("{PREFIX}{}", B64.encode(format!("o:{anchor}:{offset}")))
        }
    };
    Some(PageResponse { next_page_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(size: u32, token: &str) -> PageRequest {
        PageRequest {
            page_size: size,
            page_token: token.into(),
        }
    }

    #[test]
    fn a_keyed_page_takes_what_is_kept_after_the_last_key_and_says_where_the_next_starts() {
        let map: std::collections::BTreeMap<String, u32> =
            (1..=7).map(|n| (format!("k{n}"), n)).collect();
        let odd = |n: &u32| n % 2 == 1;
        let (first, page) = Page::of(Some(&request(2, "")))
            .unwrap()
            .keyed(&map, odd)
            .unwrap();
        assert_eq!(first, [&1, &3]);
        let token = page.unwrap().next_page_token;
        let (second, page) = Page::of(Some(&request(2, &token)))
            .unwrap()
            .keyed(&map, odd)
            .unwrap();
        assert_eq!(second, [&5, &7]);
        assert!(
            page.unwrap().next_page_token.is_empty(),
            "nothing kept after the last: no next page"
        );
        let offset = next(Some(Cursor::Offset {
            anchor: 3,
            offset: 1,
        }))
        .unwrap()
        .next_page_token;
        let e = Page::of(Some(&request(2, &offset)))
            .unwrap()
            .keyed(&map, odd)
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn a_time_ordered_page_starts_after_its_instant_and_id() {
        let token = next(Some(Cursor::after_instant(1_772_589_600_000, "o:1")))
            .unwrap()
            .next_page_token;
        let page = Page::of(Some(&request(10, &token))).unwrap();
        assert_eq!(
            page.after_instant().unwrap(),
            Some((1_772_589_600_000, "o:1".to_owned()))
        );
        assert_eq!(Page::of(None).unwrap().after_instant().unwrap(), None);
        let other = next(Some(Cursor::After("no-instant".into())))
            .unwrap()
            .next_page_token;
        let e = Page::of(Some(&request(10, &other)))
            .unwrap()
            .after_instant()
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn one_size_rule_and_one_token_format() {
        assert_eq!(Page::of(None).unwrap().size, DEFAULT_PAGE);
        assert_eq!(Page::of(Some(&request(7, ""))).unwrap().size, 7);
        let e = Page::of(Some(&request(MAX_PAGE as u32 + 1, ""))).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        for cursor in [
            Cursor::After("c-12".into()),
            Cursor::After("条目:1".into()),
            Cursor::Offset {
                anchor: 40,
                offset: 20,
            },
        ] {
            let token = next(Some(cursor.clone())).unwrap().next_page_token;
            assert_eq!(Page::of(Some(&request(0, &token))).unwrap().cursor, cursor);
        }
        assert_eq!(next(None).unwrap().next_page_token, "");
        for garbage in ["!!!", "AAAA", "p1.!!", "p1.eDox", "9999"] {
            let e = Page::of(Some(&request(0, garbage))).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{garbage}");
        }
        let offset = next(Some(Cursor::Offset {
            anchor: 1,
            offset: 1,
        }))
        .unwrap()
        .next_page_token;
        assert!(Page::of(Some(&request(0, &offset)))
            .unwrap()
            .after_key()
            .is_err());
    }
}
