//! Spawns scenarios, samples them from outside, merges the timeline and streams it to disk
