//! The random source of the catalogue's generators: SplitMix64, and the sizes a generator draws
//! shapes from. A sample depends only on the seed and the size, so a fuzz run replays exactly and
//! shrinking redraws a case at smaller sizes.

/// SplitMix64: tiny, and stable across versions, so seeds stay replayable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Sizes a generator draws shapes from; shrinking lowers them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub batch: i64,
    pub classes: i64,
    pub extra: i64,
}

impl Size {
    pub fn draw(rng: &mut Rng) -> Size {
        Size {
            batch: rng.pick(&[0, 1, 1, 2, 3, 4, 5]),
            classes: 1 + rng.below(6) as i64,
            extra: rng.pick(&[0, 0, 1, 2, 3]),
        }
    }
}
