//! (being written by the probe work)
