//! Segmentation training service with the retained-session leak and its fix.
//!
//! The second incident of `DESIGN.md`, rebuilt: a long-lived service trains a small
//! convolutional segmentation model on annotated samples, session after session.
//! [`CleanupPolicy::Retain`] keeps every earlier session's model, optimiser state,
//! decoded dataset cache, cached inference model and buffer pool alive (the bug);
//! [`CleanupPolicy::Release`] drops them when a session starts (the fix). A memory
//! watchdog fails a session loudly, with the ceiling and the measured memory.
//!
//! * [`annotation`]: samples, validation (named errors), rasterisation.
//! * [`generate`]: deterministic samples with shapes worth segmenting.
//! * [`dataset`]: decoded dataset cache, resizing, the 80/20 split.
//! * [`nn`]: the numeric core (convolutions, focal + dice loss, Adam) on ndarray.
//! * [`service`]: [`TrainingService`], progress file, watchdog, cleanup policy.

pub mod annotation;
pub mod dataset;
pub mod generate;
pub mod nn;
pub mod service;
pub mod session;

pub use annotation::{
    AnnotatedSample, Annotation, AnnotationError, ClassSet, Problem, RgbImage, Shape,
};
pub use service::{
    CleanupPolicy, MemoryMeter, Progress, ServiceConfig, SessionObserver, SessionReport, Status,
    TrainError, TrainingService,
};
