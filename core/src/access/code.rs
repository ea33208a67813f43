//! Access keys as people handle them: eight characters, read aloud or typed
//! from a whiteboard, shown as `K7XM-4PQ9`.
//!
//! The first two characters name the key (so a member knows which of the
//! workspace's keys is meant without being told the rest); the other six are
//! the secret part, about 29 bits. That is plenty because the code is never
//! checked by hash or by MAC where an eavesdropper could try guesses offline:
//! it only seeds a password-authenticated key exchange ([`super::enroll`]), so
//! each attempt tests one guess, against a member who counts failures, while
//! the key lasts.

use std::fmt;

use crate::entropy::Entropy;

/// No 0/O, 1/I/L or U/V pairs to mistake for one another when spoken or read.
const ALPHABET: &[u8; 29] = b"23456789ABCDEFGHJKMNPQRSTWXYZ";
pub const CODE_LEN: usize = 8;
pub const HINT_LEN: usize = 2;

#[derive(Clone, PartialEq, Eq)]
pub struct AccessCode(String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    WrongLength(usize),
    NotACodeCharacter(char),
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::WrongLength(length) => {
                write!(f, "an access key has {CODE_LEN} letters and digits, like K7XM-4PQ9; this one has {length}")
            }
            CodeError::NotACodeCharacter(character) => {
                write!(f, "'{character}' is not in access keys; they use digits 2–9 and letters, like K7XM-4PQ9")
            }
        }
    }
}

impl std::error::Error for CodeError {}

impl AccessCode {
    /// A fresh code whose first two characters differ from each of `taken`
    /// (the hints of the keys still in use), so that the hint alone tells a
    /// member which key is meant.
    pub fn generate(entropy: &mut dyn Entropy, taken: &[&str]) -> AccessCode {
        loop {
            let code: String = (0..CODE_LEN).map(|_| char::from(ALPHABET[uniform_symbol(entropy)])).collect();
            if !taken.contains(&&code[..HINT_LEN]) {
                return AccessCode(code);
            }
        }
    }

    /// Reads a code as a person typed it: any case, with spaces or dashes.
    pub fn parse(text: &str) -> Result<AccessCode, CodeError> {
        let mut code = String::with_capacity(CODE_LEN);
        for character in text.chars().filter(|character| !character.is_whitespace() && *character != '-') {
            let upper = character.to_ascii_uppercase();
            if !upper.is_ascii() || !ALPHABET.contains(&(upper as u8)) {
                return Err(CodeError::NotACodeCharacter(character));
            }
            code.push(upper);
        }
        if code.chars().count() != CODE_LEN {
            return Err(CodeError::WrongLength(code.chars().count()));
        }
        Ok(AccessCode(code))
    }

    /// The canonical form, as stored in the workspace.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part that names the key; sent in the clear when joining.
    pub fn hint(&self) -> &str {
        &self.0[..HINT_LEN]
    }
}

/// `K7XM-4PQ9`: two groups of four are easier to read out.
impl fmt::Display for AccessCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", &self.0[..4], &self.0[4..])
    }
}

/// Codes are secrets: never in logs.
impl fmt::Debug for AccessCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessCode({}…)", self.hint())
    }
}

/// Rejection sampling: every symbol equally likely.
fn uniform_symbol(entropy: &mut dyn Entropy) -> usize {
    let limit = 256 - 256 % ALPHABET.len();
    loop {
        let mut byte = [0u8; 1];
        entropy.fill(&mut byte);
        if usize::from(byte[0]) < limit {
            return usize::from(byte[0]) % ALPHABET.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    #[test]
    fn typed_forms_read_as_the_same_code() {
        let code = AccessCode::generate(&mut SeededEntropy::new(7), &[]);
        let shown = code.to_string();
        assert_eq!(shown.len(), CODE_LEN + 1);
        for typed in [shown.clone(), shown.to_lowercase(), shown.replace('-', " "), format!("  {}  ", code.as_str())] {
            assert_eq!(AccessCode::parse(&typed).unwrap(), code, "{typed}");
        }
    }

    #[test]
    fn mistakable_characters_and_wrong_lengths_are_refused_in_words() {
        assert_eq!(AccessCode::parse("K7XM-4PQ0"), Err(CodeError::NotACodeCharacter('0')));
        assert_eq!(AccessCode::parse("k7xm-4pqi"), Err(CodeError::NotACodeCharacter('i')));
        assert_eq!(AccessCode::parse("K7XM-4PQ"), Err(CodeError::WrongLength(7)));
        assert_eq!(AccessCode::parse("K7XM-4PQ99"), Err(CodeError::WrongLength(9)));
        assert!(AccessCode::parse("K7XM-4PQé").unwrap_err().to_string().contains("'é'"));
    }

    #[test]
    fn a_new_code_avoids_the_hints_in_use() {
        let mut entropy = SeededEntropy::new(1);
        let first = AccessCode::generate(&mut entropy, &[]);
        for _ in 0..200 {
            let next = AccessCode::generate(&mut entropy, &[first.hint()]);
            assert_ne!(next.hint(), first.hint());
        }
    }

    #[test]
    fn the_debug_form_keeps_the_secret_part_out_of_logs() {
        let code = AccessCode::parse("K7XM-4PQ9").unwrap();
        assert_eq!(format!("{code:?}"), "AccessCode(K7…)");
    }
}
