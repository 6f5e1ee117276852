//! The video pipeline (video queue): analyze, extract frames, process frames.
