//! Compression on its own thread: walking or unpacking a tree and
//! compressing its tar stream then use both cores. Chunks travel through a
//! bounded channel, so memory stays at a few megabytes whatever the size.

use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::compression::Compression;
use crate::digest::{Digest, HashingWriter};

const CHUNK: usize = 256 << 10;
const CHUNKS_IN_FLIGHT: usize = 8;

/// A writer whose data is compressed into `W` by a background thread; the
/// compressed stream's digest and size come back from [`finish`](Self::finish).
pub struct EncoderThread<W: Write + Send + 'static> {
    buffer: Vec<u8>,
    chunks: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<io::Result<(Digest, u64, W)>>>,
}

impl<W: Write + Send + 'static> EncoderThread<W> {
    /// Starts the compressor thread writing to `out`; bytes written to the returned writer are compressed there, a chunk at a time.
    pub fn spawn(compression: Compression, out: W) -> io::Result<EncoderThread<W>> {
        let (chunks, received) = sync_channel(CHUNKS_IN_FLIGHT);
        let worker = std::thread::Builder::new().name("layer-encoder".into()).spawn(move || encode(compression, out, received))?;
        Ok(EncoderThread { buffer: Vec::with_capacity(CHUNK), chunks: Some(chunks), worker: Some(worker) })
    }

    /// Flushes the last chunk, waits for the compressor and returns the
    /// compressed digest, size and the inner writer.
    pub fn finish(mut self) -> io::Result<(Digest, u64, W)> {
        self.send()?;
        self.chunks = None;
        self.join()
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        let sent = self.chunks.as_ref().map(|chunks| chunks.send(chunk));
        match sent {
            Some(Ok(())) => Ok(()),
            // The worker stopped early: its own error says why.
            _ => {
                self.chunks = None;
                Err(self.join().err().unwrap_or_else(|| io::Error::other("layer encoder stopped")))
            }
        }
    }

    fn join(&mut self) -> io::Result<(Digest, u64, W)> {
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("layer encoder thread panicked")),
            None => Err(io::Error::other("layer encoder already finished")),
        }
    }
}

fn encode<W: Write>(compression: Compression, out: W, chunks: Receiver<Vec<u8>>) -> io::Result<(Digest, u64, W)> {
    let mut encoder = compression.encoder(HashingWriter::new(out))?;
    for chunk in chunks {
        encoder.write_all(&chunk)?;
    }
    Ok(encoder.finish()?.finish())
}

impl<W: Write + Send + 'static> Drop for EncoderThread<W> {
    /// Dropped without `finish` (the input failed): close the channel and
    /// wait, so the worker drops `W` before the error reaches the caller. A
    /// detached worker could still hold it when the process exits, and a
    /// `BlobWriter` would leave its temp file behind. Its error adds nothing
    /// to the one being returned.
    fn drop(&mut self) {
        self.chunks = None;
        let _ = self.join();
    }
}

impl<W: Write + Send + 'static> Write for EncoderThread<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
