//! A pool of free-but-reserved `f32` buffers, like a framework's caching allocator.
//!
//! Buffers go back to the pool after each step and are reused by the next one, so a
//! steady session allocates nothing. The pool never gives memory back by itself:
//! that is the point of the retraining incident (see `CleanupPolicy`).

use ndarray::Array2;

/// Reusable buffers, matched by capacity (smallest that fits).
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Vec<Vec<f32>>,
}

impl BufferPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// A `rows x cols` array with unspecified (but initialised) contents.
    pub fn take(&mut self, rows: usize, cols: usize) -> Array2<f32> {
        let n = rows * cols;
        let best = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        let mut v = match best {
            Some(i) => self.free.swap_remove(i),
            None => Vec::with_capacity(n),
        };
        v.resize(n, 0.0);
        Array2::from_shape_vec((rows, cols), v).expect("length equals rows * cols")
    }

    /// Like [`take`](Self::take), zero-filled.
    pub fn take_zeroed(&mut self, rows: usize, cols: usize) -> Array2<f32> {
        let mut a = self.take(rows, cols);
        a.fill(0.0);
        a
    }

    /// Return a buffer for reuse.
    pub fn give(&mut self, a: Array2<f32>) {
        self.free.push(a.into_raw_vec_and_offset().0);
    }

    /// Bytes reserved by free buffers (what stays alive between steps).
    pub fn byte_size(&self) -> usize {
        self.free
            .iter()
            .map(|v| v.capacity() * size_of::<f32>())
            .sum()
    }

    /// Free buffers currently held.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// Drop every free buffer.
    pub fn clear(&mut self) {
        self.free = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_smallest_fitting_buffer() {
        let mut p = BufferPool::new();
        let a = p.take(10, 10);
        let b = p.take(2, 2);
        p.give(a);
        p.give(b);
        assert_eq!(p.byte_size(), 104 * 4);
        let c = p.take(1, 3);
        assert_eq!(c.dim(), (1, 3));
        assert_eq!(p.byte_size(), 100 * 4, "took the 4-element buffer");
        p.give(c);
        p.clear();
        assert!(p.is_empty());
        assert_eq!(p.byte_size(), 0);
    }
}
