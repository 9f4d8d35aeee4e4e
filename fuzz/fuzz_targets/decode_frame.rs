//! (b) The frame decoder, every supported link type: the first byte of the
//! input picks the link type (and one unsupported one), the rest is the frame.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nagle_analyze_fuzz::targets::decode_frame::decode_frame(data));
