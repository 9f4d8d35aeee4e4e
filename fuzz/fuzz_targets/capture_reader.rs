//! (a) The capture reader on arbitrary bytes: `read_reader` over a `Cursor`.
//! Every delivered frame is also decoded, so the reader's output is checked
//! against the decoder's contract too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nagle_analyze_fuzz::targets::capture_reader::capture_reader(data));
