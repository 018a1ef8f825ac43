//! Leak statistics: steady state, robust slopes, trend tests, shape classes, budgets and verdicts (pure, no I/O)
