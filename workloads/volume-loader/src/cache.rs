//! A byte-bounded LRU cache of decoded chunks, shared by all arrays a worker reads.
//!
//! zarrs ships `ChunkCacheDecodedLruSizeLimit`, but it keeps its size inside moka (evictions
//! run lazily, the weighted size is not exposed): only an entry count can be observed, so a
//! byte budget could not be *checked*. This pool implements the same zarrs [`ChunkCache`]
//! trait (so zarrs assembles multi-chunk subsets through it) and keeps exact accounting:
//! bytes held, their high-water mark, hits, misses and evictions.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use zarrs::array::chunk_cache::{ChunkCache, ChunkCacheTypeDecoded};
use zarrs::array::{
    Array, ArrayBytes, ArrayError, ArraySubset, ArraySubsetTraits, CodecOptions,
    chunk_shape_to_array_shape,
};
use zarrs::storage::ReadableStorageTraits;

use crate::error::{Result, VolumeError};

/// Total cache budget when neither an argument nor [`CACHE_BYTES_ENV`] gives one.
pub const DEFAULT_CACHE_BYTES: u64 = 2 << 30;
/// Environment variable read by [`resolve_cache_bytes`] when no explicit budget is given.
pub const CACHE_BYTES_ENV: &str = "VOLUME_CACHE_BYTES";

/// The total decoded-chunk budget: `explicit`, else `VOLUME_CACHE_BYTES`, else 2 GiB.
pub fn resolve_cache_bytes(explicit: Option<u64>) -> Result<u64> {
    if let Some(bytes) = explicit {
        return Ok(bytes);
    }
    match std::env::var(CACHE_BYTES_ENV) {
        Ok(text) => text.trim().parse::<u64>().map_err(|_| {
            VolumeError::config(
                CACHE_BYTES_ENV,
                text,
                "a whole number of bytes, e.g. 4194304",
            )
        }),
        Err(std::env::VarError::NotPresent) => Ok(DEFAULT_CACHE_BYTES),
        Err(std::env::VarError::NotUnicode(raw)) => Err(VolumeError::config(
            CACHE_BYTES_ENV,
            raw.to_string_lossy(),
            "a whole number of bytes in UTF-8",
        )),
    }
}

/// One worker's share of the `total` budget. A share of 0 is clamped to 1 byte (with a
/// warning on stderr) because callers of size-limited caches commonly read 0 as "unlimited";
/// a 1-byte cache admits no chunk at all, which is what a tiny budget means.
pub fn per_worker_share(total: u64, workers: usize) -> u64 {
    let share = total / workers.max(1) as u64;
    if share == 0 {
        eprintln!(
            "volume-loader: warning: cache budget {total} B split over {workers} workers gives 0 B \
             per worker; clamped to 1 B (no chunk will be cached)"
        );
        1
    } else {
        share
    }
}

/// A snapshot of the pool's own accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// The byte budget.
    pub capacity: u64,
    /// Decoded bytes held right now.
    pub bytes_held: u64,
    /// Highest `bytes_held` ever reached (checked after every insertion).
    pub peak_bytes_held: u64,
    /// Chunks held right now.
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    /// Decoded chunks larger than the whole budget, returned but never admitted.
    pub rejected: u64,
}

type Key = (u32, Vec<u64>);

struct Entry {
    bytes: ChunkCacheTypeDecoded,
    size: u64,
    tick: u64,
}

#[derive(Default)]
struct PoolState {
    entries: HashMap<Key, Entry>,
    /// Recency order: tick -> key; the smallest tick is the least recently used.
    order: BTreeMap<u64, Key>,
    tick: u64,
    stats: CacheStats,
}

/// Byte-bounded LRU of decoded chunks, shared by the [`CachedArray`]s registered on it.
pub struct ChunkCachePool {
    state: Mutex<PoolState>,
    next_id: AtomicU32,
}

impl std::fmt::Debug for ChunkCachePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCachePool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl ChunkCachePool {
    /// A pool holding at most `capacity_bytes` of decoded chunks (0 is clamped to 1).
    pub fn new(capacity_bytes: u64) -> Arc<Self> {
        let state = PoolState {
            stats: CacheStats {
                capacity: capacity_bytes.max(1),
                ..CacheStats::default()
            },
            ..PoolState::default()
        };
        Arc::new(Self {
            state: Mutex::new(state),
            next_id: AtomicU32::new(0),
        })
    }

    /// The pool's own accounting.
    pub fn stats(&self) -> CacheStats {
        let state = self.lock();
        CacheStats {
            entries: state.entries.len(),
            ..state.stats
        }
    }

    /// Serve `array` through this pool.
    pub fn register(
        self: &Arc<Self>,
        node: impl Into<String>,
        array: Arc<Array<dyn ReadableStorageTraits>>,
    ) -> CachedArray {
        CachedArray {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            node: node.into(),
            array,
            pool: Arc::clone(self),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters for a cache, so a poisoned lock is simply taken over.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, key: &Key) -> Option<ChunkCacheTypeDecoded> {
        let mut state = self.lock();
        state.tick += 1;
        let tick = state.tick;
        let PoolState {
            entries,
            order,
            stats,
            ..
        } = &mut *state;
        match entries.get_mut(key) {
            Some(entry) => {
                order.remove(&entry.tick);
                entry.tick = tick;
                order.insert(tick, key.clone());
                stats.hits += 1;
                Some(Arc::clone(&entry.bytes))
            }
            None => {
                stats.misses += 1;
                None
            }
        }
    }

    fn insert(&self, key: Key, bytes: ChunkCacheTypeDecoded) {
        let size = bytes.size() as u64;
        let mut state = self.lock();
        if size > state.stats.capacity {
            state.stats.rejected += 1;
            return;
        }
        // Another thread may have decoded the same chunk concurrently: replace it.
        if let Some(old) = state.entries.remove(&key) {
            state.order.remove(&old.tick);
            state.stats.bytes_held -= old.size;
        }
        // Evict before inserting, so the budget holds at every instant.
        while state.stats.bytes_held + size > state.stats.capacity {
            let Some((_, victim)) = state.order.pop_first() else {
                break;
            };
            if let Some(old) = state.entries.remove(&victim) {
                state.stats.bytes_held -= old.size;
                state.stats.evictions += 1;
            }
        }
        state.tick += 1;
        let tick = state.tick;
        state.order.insert(tick, key.clone());
        state.entries.insert(key, Entry { bytes, size, tick });
        state.stats.bytes_held += size;
        state.stats.peak_bytes_held = state.stats.peak_bytes_held.max(state.stats.bytes_held);
    }
}

/// One Zarr array read through a [`ChunkCachePool`]: the "chunk store" of the loader.
pub struct CachedArray {
    id: u32,
    node: String,
    array: Arc<Array<dyn ReadableStorageTraits>>,
    pool: Arc<ChunkCachePool>,
}

impl std::fmt::Debug for CachedArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedArray")
            .field("node", &self.node)
            .field("shape", &self.array.shape())
            .finish()
    }
}

impl CachedArray {
    /// The Zarr node path, for messages.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The array shape.
    pub fn shape(&self) -> &[u64] {
        self.array.shape()
    }

    /// The pool this array is cached in.
    pub fn pool(&self) -> &Arc<ChunkCachePool> {
        &self.pool
    }

    /// Read voxels `ranges` (inside the array) as u8 through the cache.
    pub fn read_u8(&self, ranges: &[std::ops::Range<u64>]) -> Result<ndarray::ArrayD<u8>> {
        let subset = ArraySubset::new_with_ranges(ranges);
        self.retrieve_array_subset::<ndarray::ArrayD<u8>>(&subset, &CodecOptions::default())
            .map_err(|err| VolumeError::Read {
                node: self.node.clone(),
                subset: format!("{ranges:?}"),
                reason: err.to_string(),
            })
    }
}

fn to_array_error(err: VolumeError) -> ArrayError {
    ArrayError::Other(err.to_string())
}

impl ChunkCache for CachedArray {
    fn array(&self) -> Arc<Array<dyn ReadableStorageTraits>> {
        Arc::clone(&self.array)
    }

    fn retrieve_chunk_bytes(
        &self,
        chunk_indices: &[u64],
        options: &CodecOptions,
    ) -> Result<ChunkCacheTypeDecoded, ArrayError> {
        let key = (self.id, chunk_indices.to_vec());
        if let Some(bytes) = self.pool.get(&key) {
            return Ok(bytes);
        }
        // Decode outside the lock: zarrs fetches the chunks of one subset in parallel.
        let decoded = self
            .array
            .retrieve_chunk_opt::<ArrayBytes<'static>>(chunk_indices, options)
            .map_err(|err| {
                to_array_error(VolumeError::Read {
                    node: self.node.clone(),
                    subset: format!("chunk {chunk_indices:?}"),
                    reason: err.to_string(),
                })
            })?;
        let decoded = Arc::new(decoded);
        self.pool.insert(key, Arc::clone(&decoded));
        Ok(decoded)
    }

    fn retrieve_chunk_subset_bytes(
        &self,
        chunk_indices: &[u64],
        chunk_subset: &dyn ArraySubsetTraits,
        options: &CodecOptions,
    ) -> Result<ChunkCacheTypeDecoded, ArrayError> {
        let chunk = self.retrieve_chunk_bytes(chunk_indices, options)?;
        let chunk_shape = chunk_shape_to_array_shape(&self.array.chunk_shape(chunk_indices)?);
        let subset = chunk
            .extract_array_subset(chunk_subset, &chunk_shape, self.array.data_type())?
            .into_owned();
        Ok(Arc::new(subset))
    }

    fn len(&self) -> usize {
        self.pool
            .lock()
            .entries
            .keys()
            .filter(|(id, _)| *id == self.id)
            .count()
    }
}
