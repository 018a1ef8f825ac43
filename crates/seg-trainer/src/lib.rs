//! Segmentation training service with the retained-session leak and its fix
