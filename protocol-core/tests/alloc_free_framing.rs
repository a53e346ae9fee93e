//! The framing layer allocates nothing per frame: once its receive buffer has grown to what
//! the traffic needs, pushing bytes into a `FrameDecoder` and splitting frames off performs
//! zero heap allocations, whatever the chunking. Checked with a counting global allocator,
//! deterministically (no timing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use airflow_protocol::frame::{self, FrameDecoder};

/// Counts the allocations (and reallocations) of the current thread, then lets the system
/// allocator do them.
struct Counting;

thread_local! {
    // `const` and `Cell<u64>`: no lazy initialisation and no destructor, so it is safe to
    // touch from inside the allocator.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: during thread teardown the slot may be gone; those allocations are not ours.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local `Cell`, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = allocations();
    f();
    allocations() - before
}

/// 10,000 frames: every recorded frame of both directions in turn, with a 200 KiB frame
/// (larger than any chunk) every 1,000 frames. Returns the stream and its frame count.
fn stream() -> (Vec<u8>, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/airflow-1.3.2");
    let mut frames = Vec::new();
    for direction in ["to_task", "to_supervisor"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(direction))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "bin"))
            .collect();
        names.sort();
        frames.extend(names.iter().map(|path| std::fs::read(path).unwrap()));
    }
    assert!(frames.len() >= 30, "the recorded frames are there");
    let mut big = Vec::new();
    let payload = vec![0x61; 200 * 1024];
    big.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    big.extend_from_slice(&payload);

    let mut stream = Vec::new();
    let total = 10_000;
    for i in 0..total {
        if i % 1000 == 999 {
            stream.extend_from_slice(&big);
        } else {
            stream.extend_from_slice(&frames[i % frames.len()]);
        }
    }
    (stream, total)
}

/// Feeds `stream` with `push` in `chunk`-byte pieces, splitting off every complete frame
/// after each piece; returns the number of frames and their total length.
fn push_all(decoder: &mut FrameDecoder, stream: &[u8], chunk: usize) -> (usize, usize) {
    let (mut frames, mut bytes) = (0, 0);
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames += 1;
            bytes += frame.len();
        }
    }
    (frames, bytes)
}

/// The same through `spare` and `commit`, as an adapter reading from a socket does.
fn read_all(decoder: &mut FrameDecoder, stream: &[u8], chunk: usize) -> (usize, usize) {
    let (mut frames, mut bytes) = (0, 0);
    for piece in stream.chunks(chunk) {
        decoder.spare(chunk)[..piece.len()].copy_from_slice(piece);
        decoder.commit(piece.len());
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames += 1;
            bytes += frame.len();
        }
    }
    (frames, bytes)
}

#[test]
fn pushing_and_splitting_frames_allocates_nothing_after_warm_up() {
    let (stream, total) = stream();
    let payload_bytes = stream.len() - 4 * total;
    for chunk in [1, 7, 4 * 1024, 64 * 1024] {
        for feed in [push_all, read_all] {
            let mut decoder = FrameDecoder::default();
            // Warm-up: the receive buffer grows to what this traffic and chunking need.
            assert_eq!(feed(&mut decoder, &stream, chunk), (total, payload_bytes));
            assert_eq!(
                allocations_in(|| {}),
                0,
                "the counter itself does not allocate"
            );
            let mut seen = (0, 0);
            let allocated = allocations_in(|| {
                for _ in 0..3 {
                    let (frames, bytes) = feed(&mut decoder, &stream, chunk);
                    seen = (seen.0 + frames, seen.1 + bytes);
                }
            });
            assert_eq!(seen, (3 * total, 3 * payload_bytes), "chunk {chunk}");
            assert_eq!(
                allocated,
                0,
                "{allocated} allocations for {} frames in {chunk}-byte chunks",
                3 * total
            );
            assert_eq!(decoder.buffered_len(), 0);
        }
    }
}

#[test]
fn parsing_envelopes_allocates_nothing() {
    // The envelope parsers borrow from the frame too: framing plus envelopes stays
    // allocation-free (only decoding bodies into owned messages allocates).
    let (stream, total) = stream();
    let mut decoder = FrameDecoder::default();
    push_all(&mut decoder, &stream, 4096);
    let mut parsed = 0;
    let allocated = allocations_in(|| {
        for piece in stream.chunks(4096) {
            decoder.push(piece);
            while let Some(payload) = decoder.next_frame().unwrap() {
                if payload.len() > 100 * 1024 {
                    continue; // the synthetic large frame is not an envelope
                }
                let ok =
                    frame::parse_response(payload).is_ok() || frame::parse_request(payload).is_ok();
                assert!(ok);
                parsed += 1;
            }
        }
    });
    assert_eq!(parsed, total - total / 1000);
    assert_eq!(allocated, 0, "{allocated} allocations");
}

#[test]
fn the_counter_counts() {
    let allocated = allocations_in(|| {
        let v: Vec<u8> = Vec::with_capacity(10);
        std::hint::black_box(v);
    });
    assert_eq!(allocated, 1);
}
