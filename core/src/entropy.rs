//! Randomness, passed in: the engine never reads a random source itself.

/// Where fresh random bytes come from. The browser driver fills them from
/// `crypto.getRandomValues`; tests and simulations use [`SeededEntropy`].
pub trait Entropy {
    fn fill(&mut self, bytes: &mut [u8]);

    fn array<const N: usize>(&mut self) -> [u8; N]
    where
        Self: Sized,
    {
        let mut bytes = [0u8; N];
        self.fill(&mut bytes);
        bytes
    }
}

/// A deterministic byte stream (xorshift64*): the same seed gives the same
/// ids, so a test or a simulated run can be replayed exactly. Not for keys.
#[derive(Debug, Clone)]
pub struct SeededEntropy(u64);

impl SeededEntropy {
    pub fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point.
        SeededEntropy(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

impl Entropy for SeededEntropy {
    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let random = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&random[..chunk.len()]);
        }
    }
}
