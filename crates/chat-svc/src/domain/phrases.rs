//! R-CHAT-10: quick phrases and their placeholders.

use super::{DomainError, QuickPhrase};

/// What a phrase may leave for the desk to fill in.
pub const PLACEHOLDERS: [&str; 3] = ["buyer_name", "order_id", "agent_name"];

/// Names in `{...}` that are not placeholders, so a typo fails when the
/// phrase is saved, not when a buyer reads `{buyer_nmae}`.
fn unknown_placeholders(text: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            unknown.push(name.to_owned());
        }
        rest = &after[close + 1..];
    }
    unknown
}

pub fn validate(phrase: &QuickPhrase, max_chars: usize) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    if phrase.phrase_id.is_empty() || phrase.phrase_id.len() > 64 {
        errors.push(("phrase.phrase_id".into(), "1 to 64 bytes".into()));
    }
    let title = phrase.title.chars().count();
    if title == 0 || title > 50 {
        errors.push(("phrase.title".into(), "1 to 50 characters".into()));
    }
    let n = phrase.text.chars().count();
    if phrase.text.trim().is_empty() || n > max_chars {
        errors.push(("phrase.text".into(), format!("1 to {max_chars} characters")));
    }
    let unknown = unknown_placeholders(&phrase.text);
    if !unknown.is_empty() {
        errors.push((
            "phrase.text".into(),
            format!(
                "unknown placeholder(s) {{{}}}; known: {}",
                unknown.join("}, {"),
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
            ),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::Invalid(errors))
    }
}

/// The phrase with its placeholders filled; a value the conversation does
/// not have (no order) becomes empty rather than a raw `{order_id}`.
pub fn render(text: &str, buyer_name: &str, order_id: Option<&str>, agent_name: &str) -> String {
    text.replace("{buyer_name}", buyer_name)
        .replace("{order_id}", order_id.unwrap_or(""))
        .replace("{agent_name}", agent_name)
}
