//! Naming rules for what modules declare.
//!
//! Names end up in namespaced keys (`module.field`), facet ids
//! (`module.table`), query text and script code, so they are restricted to
//! ASCII letters, digits and underscores: no dots that would split a key, no
//! spaces or quotes that would need escaping, no look-alike Unicode.

/// The rule for module, field, shared key, edge type and edge property names.
pub(super) fn is_lowercase_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters.next().is_some_and(|first| first.is_ascii_lowercase())
        && characters.all(|character| character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_')
}

/// The rule for table names, which may use capitals (`LightingCues`) as the
/// data model's examples do.
pub(super) fn is_table_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters.next().is_some_and(|first| first.is_ascii_alphabetic())
        && characters.all(|character| character.is_ascii_alphanumeric() || character == '_')
}

pub(super) const LOWERCASE_NAME_RULE: &str =
    "must start with a lowercase letter and use only lowercase letters, digits and underscores";

pub(super) const TABLE_NAME_RULE: &str = "must start with a letter and use only letters, digits and underscores";

/// Splits a `module.table` reference into its two names, if both follow
/// their rules.
pub(super) fn split_table_reference(reference: &str) -> Option<(&str, &str)> {
    reference.split_once('.').filter(|&(module, table)| is_lowercase_name(module) && is_table_name(table))
}

/// Joins choices the way a sentence would: `a, b or c`.
pub(super) fn plain_list(choices: &[&str]) -> String {
    match choices {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_names() {
        for good in ["contacts", "a", "cue_number", "dmx512", "x_"] {
            assert!(is_lowercase_name(good), "{good}");
        }
        for bad in ["", "Contacts", "_private", "1st", "my-notes", "cue number", "cue.number", "café"] {
            assert!(!is_lowercase_name(bad), "{bad}");
        }
    }

    #[test]
    fn table_names() {
        for good in ["contacts", "LightingCues", "SMCues", "cues_2"] {
            assert!(is_table_name(good), "{good}");
        }
        for bad in ["", "2cues", "_cues", "Lighting Cues", "sm-cues", "Ça"] {
            assert!(!is_table_name(bad), "{bad}");
        }
    }

    #[test]
    fn table_references() {
        assert_eq!(split_table_reference("lighting.LightingCues"), Some(("lighting", "LightingCues")));
        for bad in ["lighting", "lighting.", ".cues", "Lighting.cues", "lighting.cues.x", "sm-cues.cues"] {
            assert_eq!(split_table_reference(bad), None, "{bad}");
        }
    }

    #[test]
    fn plain_lists() {
        assert_eq!(plain_list(&[]), "");
        assert_eq!(plain_list(&["text"]), "text");
        assert_eq!(plain_list(&["text", "list"]), "text or list");
        assert_eq!(plain_list(&["a", "b", "c"]), "a, b or c");
    }
}
