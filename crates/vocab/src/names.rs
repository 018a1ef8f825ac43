//! The one rule for names that become folders (a scenario's report folder): the config,
//! `--name` and `merge`'s `gate.json` all check it, so a name that one accepts never
//! fails another (or escapes `--out` as `../x`).

/// Longest scenario name: its folder and the files in it stay well under a file system's
/// 255-byte name limit.
pub const MAX_NAME_LEN: usize = 128;

/// What a scenario name may be, as errors say it.
pub const NAME_FORMS: &str = "a scenario name of letters, digits, '-', '_' and '.' (it names its report directory), not starting with '.', at most 128 characters";

/// Whether `name` is a plain folder name: ASCII letters, digits, `-`, `_`, `.`, not
/// starting with `.` (no `..`, no hidden folder), 1 to [`MAX_NAME_LEN`] characters.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_folder_names_and_nothing_else() {
        for good in ["loader-loop", "a", "v1.2_x", &"n".repeat(MAX_NAME_LEN)] {
            assert!(is_plain_name(good), "{good}");
        }
        let long = "n".repeat(MAX_NAME_LEN + 1);
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a\nb", "é", &long] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
