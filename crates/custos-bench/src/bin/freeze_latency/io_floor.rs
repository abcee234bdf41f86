//! The I/O floor: what the disk alone charges for a commit's WAL frames, with no SQLite.

use std::time::{Duration, Instant};

use super::C1_PAGES;

/// What the disk alone charges for a commit's pages: each page written as SQLite writes a WAL
/// frame (its 24-byte header, then the page, two `pwrite`s) into a file beside the database,
/// then one `fsync`, as the bundled SQLite syncs. Timed for C1's page count and the freeze's, in
/// each round between C1 and the freeze, so the machine's state falls on them as on the commits.
pub struct IoFloor {
    file: std::fs::File,
    next: u64,
    freeze_pages: usize,
    pub small: Vec<Duration>,
    pub large: Vec<Duration>,
}

impl IoFloor {
    const FRAME: u64 = 24 + 4096;
    /// The file's frames are overwritten from its start again past this, as a rewound WAL is.
    const SPAN: u64 = 4096 * Self::FRAME;

    pub fn new(dir: &std::path::Path, freeze_pages: usize) -> anyhow::Result<Self> {
        let file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(dir.join("io-floor"))?;
        // Written through once, so no frame lands in a hole (a block allocated at write time).
        std::io::Write::write_all(&mut &file, &vec![0u8; Self::SPAN as usize])?;
        file.sync_all()?;
        Ok(Self { file, next: 0, freeze_pages, small: Vec::new(), large: Vec::new() })
    }

    pub fn sample(&mut self, keep: bool) -> anyhow::Result<()> {
        let small = self.commit(C1_PAGES)?;
        let large = self.commit(self.freeze_pages)?;
        if keep {
            self.small.push(small);
            self.large.push(large);
        }
        Ok(())
    }

    fn commit(&mut self, pages: usize) -> anyhow::Result<Duration> {
        use std::os::unix::fs::FileExt;
        let (header, page) = ([0x5au8; 24], [0xa5u8; 4096]);
        if self.next + pages as u64 * Self::FRAME > Self::SPAN {
            self.next = 0;
        }
        let t = Instant::now();
        for _ in 0..pages {
            self.file.write_all_at(&header, self.next)?;
            self.file.write_all_at(&page, self.next + 24)?;
            self.next += Self::FRAME;
        }
        self.file.sync_all()?;
        Ok(t.elapsed())
    }
}
