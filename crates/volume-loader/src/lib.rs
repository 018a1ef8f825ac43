//! CellMap-style 3-D Zarr volume data loader with the view-cache leak and its fix
