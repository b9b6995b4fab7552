//! The platform's preset entries (R-FAQ-3), versioned as data in the repository
//! (`data/presets.json`): a new shop starts from them.

use crate::domain::PresetSet;

const PRESETS_JSON: &str = include_str!("../data/presets.json");

/// The preset set this build ships.
pub fn builtin() -> PresetSet {
    serde_json::from_str(PRESETS_JSON).expect("data/presets.json is a valid preset set")
}
