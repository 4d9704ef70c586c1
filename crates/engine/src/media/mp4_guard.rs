//! A structural check of MP4/M4A files before symphonia sees them.
//!
//! symphonia's MP4 demuxer reserves memory for its sample tables from the
//! entry counts in the file, before reading the entries; a 2 KB file can ask
//! for gigabytes (found by fuzzing). Here every table's entry count must fit
//! in its atom, and every atom in its parent, or the file is refused.

use std::io::{self, Read, Seek, SeekFrom};

/// Containers on the way to the sample tables and the metadata items, whose
/// children symphonia reads with sizes taken from the file.
const CONTAINERS: [&[u8; 4]; 10] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf", b"udta", b"ilst",
];
const MAX_DEPTH: u32 = 10;
/// How far into the file the format probe may find the MP4 start (after an
/// ID3 tag or junk), so how far we look for it too.
const SCAN_BYTES: usize = 1 << 20;

/// The part of the sound track a player presents, from its edit list:
/// encoders put priming samples before it and padding after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Presentation {
    pub skip_seconds: f64,
    /// `None` when the edit does not say (play to the end).
    pub keep_seconds: Option<f64>,
}

#[derive(Default)]
struct Facts {
    movie_timescale: u32,
    tracks: Vec<TrackFacts>,
}

#[derive(Default)]
struct TrackFacts {
    timescale: u32,
    sound: bool,
    /// First non-empty edit: (segment duration in movie units, media time).
    edit: Option<(u64, i64)>,
}

impl Facts {
    fn presentation(&self) -> Option<Presentation> {
        let mut sound = self.tracks.iter().filter(|t| t.sound);
        let track = sound.next()?;
        if sound.next().is_some() || track.timescale == 0 {
            return None;
        }
        let (segment, media_time) = track.edit?;
        let keep = (segment > 0 && self.movie_timescale > 0)
            .then(|| segment as f64 / f64::from(self.movie_timescale));
        Some(Presentation {
            skip_seconds: media_time.max(0) as f64 / f64::from(track.timescale),
            keep_seconds: keep,
        })
    }
}

/// At most this many candidate starts are checked.
const MAX_CANDIDATES: usize = 16;

/// Where ISO-BMFF data may start (an `ftyp` box) within the bytes a format
/// probe would scan. The probe may skip tags and junk, so every candidate
/// counts, not only the first.
pub fn find_mp4<R: Read + Seek>(src: &mut R) -> io::Result<Vec<u64>> {
    let mut head = vec![0u8; SCAN_BYTES];
    src.seek(SeekFrom::Start(0))?;
    let n = read_up_to(src, &mut head)?;
    src.seek(SeekFrom::Start(0))?;
    Ok(head[..n]
        .windows(4)
        .enumerate()
        .filter(|&(i, w)| i >= 4 && w == b"ftyp")
        .map(|(i, _)| (i - 4) as u64)
        .take(MAX_CANDIDATES)
        .collect())
}

/// `Err(reason)` when an atom overruns its parent or a sample table claims
/// more entries than its atom holds; otherwise the sound track's edit.
pub fn check_mp4<R: Read + Seek>(
    src: &mut R,
    start: u64,
) -> io::Result<Result<Option<Presentation>, String>> {
    let end = src.seek(SeekFrom::End(0))?;
    let mut facts = Facts::default();
    let verdict = walk(src, start, end, 0, false, &mut facts);
    src.seek(SeekFrom::Start(0))?;
    Ok(verdict?.map(|()| facts.presentation()))
}

fn walk<R: Read + Seek>(
    src: &mut R,
    start: u64,
    end: u64,
    depth: u32,
    in_ilst: bool,
    facts: &mut Facts,
) -> io::Result<Result<(), String>> {
    if depth > MAX_DEPTH {
        return Ok(Err("the MP4 atoms are nested too deeply".into()));
    }
    let mut pos = start;
    while end.saturating_sub(pos) >= 8 {
        src.seek(SeekFrom::Start(pos))?;
        let mut h = [0u8; 8];
        src.read_exact(&mut h)?;
        let kind = [h[4], h[5], h[6], h[7]];
        let mut header = 8u64;
        let size = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            0 => end - pos,
            1 => {
                if end - pos < 16 {
                    return Ok(Err("an MP4 atom header is cut off".into()));
                }
                let mut large = [0u8; 8];
                src.read_exact(&mut large)?;
                header = 16;
                u64::from_be_bytes(large)
            }
            s => u64::from(s),
        };
        if size < header || size > end - pos {
            return Ok(Err(format!(
                "the MP4 atom '{}' at byte {pos} claims {size} bytes, more than its container holds",
                String::from_utf8_lossy(&kind)
            )));
        }
        let body = size - header;
        // `meta` has version/flags before its children; every item of an
        // `ilst` is itself a container of `data` atoms.
        let children_at = match &kind {
            b"meta" => Some(header + 4),
            k if in_ilst || CONTAINERS.contains(&k) => Some(header),
            _ => None,
        };
        if &kind == b"trak" {
            facts.tracks.push(TrackFacts::default());
        }
        if let Some(offset) = children_at {
            let in_ilst = &kind == b"ilst";
            if let Err(e) = walk(src, pos + offset, pos + size, depth + 1, in_ilst, facts)? {
                return Ok(Err(e));
            }
        } else if matches!(&kind, b"mvhd" | b"mdhd" | b"hdlr" | b"elst") {
            let mut b = [0u8; 32];
            let n = read_up_to(src, &mut b[..body.min(32) as usize])?;
            note(&kind, &b[..n], facts);
        } else if let Some(entry) = table_entry_size(&kind) {
            // Version/flags (4 bytes); `stsz` adds a fixed sample size first.
            let skip = if &kind == b"stsz" { 8 } else { 4 };
            if body < skip + 4 {
                return Ok(Err(format!(
                    "the MP4 table '{}' is cut off",
                    String::from_utf8_lossy(&kind)
                )));
            }
            let mut fixed = [0u8; 12];
            src.read_exact(&mut fixed[..(skip + 4) as usize])?;
            let count_at = skip as usize;
            let count = u64::from(u32::from_be_bytes([
                fixed[count_at],
                fixed[count_at + 1],
                fixed[count_at + 2],
                fixed[count_at + 3],
            ]));
            let per_sample_sizes = &kind != b"stsz" || fixed[4..8].iter().all(|&b| b == 0);
            let needed = if per_sample_sizes { count * entry } else { 0 };
            if needed > body - skip - 4 {
                return Ok(Err(format!(
                    "the MP4 table '{}' claims {count} entries, more than its {body} bytes hold",
                    String::from_utf8_lossy(&kind)
                )));
            }
        }
        pos += size;
    }
    Ok(Ok(()))
}

/// Records the timing facts of one header atom (`b` is its start).
fn note(kind: &[u8; 4], b: &[u8], facts: &mut Facts) {
    let u32_at = |i: usize| {
        b.get(i..i + 4)
            .map(|v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    };
    let u64_at = |i: usize| {
        b.get(i..i + 8)
            .map(|v| u64::from_be_bytes([v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]]))
    };
    let version = b.first().copied().unwrap_or(0);
    // Timescale follows the creation and modification times (4 or 8 bytes each).
    let timescale = || u32_at(if version == 1 { 20 } else { 12 }).unwrap_or(0);
    match kind {
        b"mvhd" => facts.movie_timescale = timescale(),
        b"mdhd" => {
            if let Some(t) = facts.tracks.last_mut() {
                t.timescale = timescale();
            }
        }
        b"hdlr" => {
            // Only ever set: a later `hdlr` (of a `meta` box) names metadata.
            if let Some(t) = facts.tracks.last_mut() {
                t.sound |= b.get(8..12) == Some(b"soun".as_slice());
            }
        }
        b"elst" => {
            let entry = if version == 1 {
                u64_at(8).zip(u64_at(16).map(|v| v as i64))
            } else {
                u32_at(8)
                    .map(u64::from)
                    .zip(u32_at(12).map(|v| i64::from(v as i32)))
            };
            if let (Some(t), Some((segment, media_time))) = (facts.tracks.last_mut(), entry) {
                // An empty edit (-1) only delays the start; keep what follows as is.
                if media_time >= 0 && t.edit.is_none() {
                    t.edit = Some((segment, media_time));
                }
            }
        }
        _ => {}
    }
}

fn table_entry_size(kind: &[u8; 4]) -> Option<u64> {
    match kind {
        b"stco" | b"stss" | b"stsz" => Some(4),
        b"co64" | b"stts" | b"ctts" => Some(8),
        b"stsc" => Some(12),
        _ => None,
    }
}

fn read_up_to<R: Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn atom(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn file_with_stco(count: u32, entries: u32) -> Vec<u8> {
        let mut stco = vec![0, 0, 0, 0];
        stco.extend_from_slice(&count.to_be_bytes());
        for i in 0..entries {
            stco.extend_from_slice(&i.to_be_bytes());
        }
        let stbl = atom(b"stbl", &atom(b"stco", &stco));
        let moov = atom(
            b"moov",
            &atom(b"trak", &atom(b"mdia", &atom(b"minf", &stbl))),
        );
        let mut f = atom(b"ftyp", b"M4A \0\0\0\0");
        f.extend(moov);
        f
    }

    #[test]
    fn tables_that_fit_pass_and_forged_counts_fail() {
        let ok = file_with_stco(3, 3);
        assert_eq!(find_mp4(&mut Cursor::new(&ok)).unwrap(), vec![0]);
        assert_eq!(check_mp4(&mut Cursor::new(&ok), 0).unwrap(), Ok(None));
        let forged = file_with_stco(1_140_850_688, 3);
        let verdict = check_mp4(&mut Cursor::new(&forged), 0).unwrap();
        assert!(verdict
            .unwrap_err()
            .contains("'stco' claims 1140850688 entries"));
    }

    #[test]
    fn an_atom_larger_than_its_parent_fails() {
        let mut f = file_with_stco(1, 1);
        // Grow the declared size of the moov atom past the end of the file.
        let at = f.windows(4).position(|w| w == b"moov").unwrap() - 4;
        f[at..at + 4].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(check_mp4(&mut Cursor::new(&f), 0).unwrap().is_err());
    }

    #[test]
    fn metadata_items_are_checked_after_leading_junk() {
        let data = atom(b"data", &[0; 12]);
        let item = atom(b"\xa9nam", &data);
        let mut meta = vec![0, 0, 0, 0];
        meta.extend(atom(b"ilst", &item));
        let udta = atom(b"udta", &atom(b"meta", &meta));
        let mut f = b"ID3 junk".to_vec();
        f.extend(atom(b"ftyp", b"M4A \0\0\0\0"));
        f.extend(atom(b"moov", &udta));
        let start = find_mp4(&mut Cursor::new(&f)).unwrap()[0];
        assert_eq!(start, 8);
        assert_eq!(check_mp4(&mut Cursor::new(&f), start).unwrap(), Ok(None));
        // A data atom claiming 4 GB inside a tiny item.
        let at = f.windows(4).position(|w| w == b"data").unwrap() - 4;
        f[at..at + 4].copy_from_slice(&0xFFFF_000Du32.to_be_bytes());
        assert!(check_mp4(&mut Cursor::new(&f), start).unwrap().is_err());
    }
}

#[cfg(test)]
mod real_file {
    use super::*;

    #[test]
    fn ffmpeg_aac_edit_list_is_read() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/speech_audio/short.m4a"
        );
        let mut f = std::fs::File::open(path).unwrap();
        let starts = find_mp4(&mut f).unwrap();
        assert_eq!(starts, vec![0]);
        let p = check_mp4(&mut f, 0).unwrap().unwrap().unwrap();
        assert!((p.skip_seconds - 0.128).abs() < 1e-9, "{p:?}");
        assert_eq!(p.keep_seconds, Some(0.3));
    }
}
