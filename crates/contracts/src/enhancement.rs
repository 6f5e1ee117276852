//! The enhancement pipeline (enhancement queue): download, enhance, upload, clean up.
