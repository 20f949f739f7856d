//! Streaming analysis of one text per line to JSONL, on several threads.
//! Lines are read in chunks; each chunk is split between the workers, each
//! worker serialises its share into its own buffer, and the buffers are
//! written in input order, so the output order matches the input.

use std::io::{BufRead, Write};

use anyhow::Result;
use earshot_core::Analyzer;

use crate::Engine;

const CHUNK: usize = 16_384;

fn analyze_into(engine: &Engine, lines: &[String], buf: &mut Vec<u8>) -> Result<()> {
    for l in lines {
        let a = engine.analyze(l);
        serde_json::to_writer(&mut *buf, &a)?;
        buf.push(b'\n');
    }
    Ok(())
}

/// Analyses every line of `input`, writing one JSON object per line to `out`.
/// Returns the number of lines analysed.
pub fn analyze_lines(
    engine: &Engine,
    mut input: impl BufRead,
    mut out: impl Write,
    threads: usize,
) -> Result<u64> {
    let threads = threads.max(1);
    let mut lines: Vec<String> = Vec::with_capacity(CHUNK);
    let mut bufs: Vec<Vec<u8>> = (0..threads).map(|_| Vec::with_capacity(1 << 20)).collect();
    let mut total = 0u64;
    loop {
        lines.clear();
        let mut line = String::new();
        while lines.len() < CHUNK {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                break;
            }
            let t = line.trim_end_matches(['\n', '\r']);
            lines.push(t.to_string());
        }
        if lines.is_empty() {
            break;
        }
        total += lines.len() as u64;
        if threads == 1 {
            bufs[0].clear();
            analyze_into(engine, &lines, &mut bufs[0])?;
            out.write_all(&bufs[0])?;
        } else {
            let per = lines.len().div_ceil(threads);
            let results: Vec<Result<()>> = std::thread::scope(|sc| {
                let handles: Vec<_> = lines
                    .chunks(per)
                    .zip(bufs.iter_mut())
                    .map(|(part, buf)| {
                        sc.spawn(move || {
                            buf.clear();
                            analyze_into(engine, part, buf)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow::anyhow!("worker panicked")))
                    })
                    .collect()
            });
            for r in results {
                r?;
            }
            for b in bufs.iter().take(lines.len().div_ceil(per)) {
                out.write_all(b)?;
            }
        }
        if lines.len() < CHUNK {
            break;
        }
    }
    out.flush()?;
    Ok(total)
}
