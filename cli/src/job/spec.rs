//! What an artist asks for (frames, size, tiles, samples, price), checked against the
//! program's bounds before anything is sent, and turned into the on-chain `JobParams`.
use serde::Serialize;
use tessera_render::FrameRate;
use tessera_sdk::tessera::constants::{
    MAX_FRAMES, MAX_FRAME_EDGE, MAX_FRAME_RATE, MAX_SPP, MIN_TILE_SIZE,
};
use tessera_sdk::JobParams;

use crate::error::{input, CliResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameRange {
    pub start: u32,
    pub end: u32,
}

impl std::str::FromStr for FrameRange {
    type Err = String;

    /// "1-48", "12" or "0..=10".
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not a frame range: {s:?} (e.g. 1-48 or 7)");
        let (a, b) = s
            .split_once("..=")
            .or_else(|| s.split_once('-'))
            .unwrap_or((s, s));
        let start: u32 = a.trim().parse().map_err(|_| bad())?;
        let end: u32 = b.trim().parse().map_err(|_| bad())?;
        if end < start {
            return Err(format!("frame range {s} ends before it starts"));
        }
        Ok(FrameRange { start, end })
    }
}

impl FrameRange {
    pub fn count(&self) -> u32 {
        self.end - self.start + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl std::str::FromStr for Size {
    type Err = String;

    /// "1920x1080".
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not an image size: {s:?} (e.g. 1920x1080)");
        let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        Ok(Size {
            width: w.trim().parse().map_err(|_| bad())?,
            height: h.trim().parse().map_err(|_| bad())?,
        })
    }
}

/// `--fps`: a frame rate ("24", "25", "30000/1001") within the program's bound.
pub fn parse_fps(s: &str) -> Result<FrameRate, String> {
    let rate: FrameRate = s.parse()?;
    if rate.num as u64 > MAX_FRAME_RATE as u64 * rate.den as u64 {
        return Err(format!(
            "frame rate {s} is out of range: at most {MAX_FRAME_RATE} fps"
        ));
    }
    Ok(rate)
}

fn as_text<S: serde::Serializer>(rate: &FrameRate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(rate)
}

/// A job as the artist describes it, amounts in base units.
#[derive(Debug, Clone, Serialize)]
pub struct JobSpec {
    pub frames: FrameRange,
    pub size: Size,
    pub tile_size: u32,
    pub spp: u32,
    pub price_per_tile: u64,
    /// Fixes frame → time for every node and auditor (frame 1 at t = 0).
    #[serde(serialize_with = "as_text")]
    pub frame_rate: FrameRate,
}

impl JobSpec {
    /// The program's bounds, checked here so the user gets a sentence, not an error code.
    pub fn validate(&self) -> CliResult<()> {
        let Size { width, height } = self.size;
        if !(1..=MAX_FRAME_EDGE).contains(&width) || !(1..=MAX_FRAME_EDGE).contains(&height) {
            return Err(input(format!(
                "--size {width}x{height} is out of range: each side must be 1..={MAX_FRAME_EDGE}"
            )));
        }
        if !(MIN_TILE_SIZE..=MAX_FRAME_EDGE).contains(&self.tile_size) {
            return Err(input(format!(
                "--tile {} is out of range: {MIN_TILE_SIZE}..={MAX_FRAME_EDGE} pixels",
                self.tile_size
            )));
        }
        if self.frames.count() > MAX_FRAMES {
            return Err(input(format!(
                "--frames {}-{} is {} frames; at most {MAX_FRAMES} per job",
                self.frames.start,
                self.frames.end,
                self.frames.count()
            )));
        }
        if !(1..=MAX_SPP).contains(&self.spp) {
            return Err(input(format!(
                "--spp {} is out of range: 1..={MAX_SPP}",
                self.spp
            )));
        }
        if self.price_per_tile == 0 {
            return Err(input("--price must be more than 0"));
        }
        if self.tile_count() > u32::MAX as u64 {
            return Err(input("the job has more tiles than a receipt can count"));
        }
        Ok(())
    }

    pub fn tiles_per_frame(&self) -> u64 {
        self.size.width.div_ceil(self.tile_size) as u64
            * self.size.height.div_ceil(self.tile_size) as u64
    }

    pub fn tile_count(&self) -> u64 {
        self.tiles_per_frame() * self.frames.count() as u64
    }

    /// Samples the whole job traces (for time estimates).
    pub fn samples(&self) -> f64 {
        self.size.width as f64
            * self.size.height as f64
            * self.frames.count() as f64
            * self.spp as f64
    }

    /// Price of every tile and of the most verification renders the job pays, and the
    /// network fee on both: the program's own rounding, so the quote's budget is the one
    /// `create_job` requires.
    pub fn cost(&self, fee_bps: u16, verify_bps: u16) -> CliResult<tessera_sdk::estimate::Cost> {
        tessera_sdk::estimate::job_cost(self.tile_count(), self.price_per_tile, fee_bps, verify_bps)
            .ok_or_else(|| input("price × renders + fee overflows"))
    }

    pub fn params(&self, scene_hash: [u8; 32], budget: u64, deadline: i64) -> JobParams {
        JobParams {
            scene_hash,
            frame_start: self.frames.start,
            frame_end: self.frames.end,
            width: self.size.width,
            height: self.size.height,
            tile_size: self.tile_size,
            samples_per_pixel: self.spp,
            price_per_tile: self.price_per_tile,
            budget,
            deadline,
            frame_rate_num: self.frame_rate.num,
            frame_rate_den: self.frame_rate.den,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            frames: "1-48".parse().unwrap(),
            size: "1920x1080".parse().unwrap(),
            tile_size: 256,
            spp: 64,
            price_per_tile: 10_000,
            frame_rate: FrameRate::DEFAULT,
        }
    }

    #[test]
    fn parses_ranges_and_sizes() {
        assert_eq!("7".parse::<FrameRange>().unwrap().count(), 1);
        assert_eq!("0..=9".parse::<FrameRange>().unwrap().count(), 10);
        assert!("9-1".parse::<FrameRange>().is_err());
        assert!("a-b".parse::<FrameRange>().is_err());
        assert!("1920".parse::<Size>().is_err());
        assert_eq!(
            "64X32".parse::<Size>().unwrap(),
            Size {
                width: 64,
                height: 32
            }
        );
    }

    #[test]
    fn counts_tiles_and_checks_bounds() {
        let s = spec();
        assert_eq!(s.tiles_per_frame(), 8 * 5);
        assert_eq!(s.tile_count(), 40 * 48);
        // 1 920 tiles at 10 000 + ⌈1 920 × 25%⌉ = 480 check renders, 2.5% fee on 24 000 000.
        let c = s.cost(250, 2_500).unwrap();
        assert_eq!(
            (
                c.tiles,
                c.verification_renders,
                c.verification,
                c.fee,
                c.budget
            ),
            (19_200_000, 480, 4_800_000, 600_000, 24_600_000)
        );
        s.validate().unwrap();
        for bad in [
            JobSpec {
                tile_size: 8,
                ..spec()
            },
            JobSpec { spp: 0, ..spec() },
            JobSpec {
                price_per_tile: 0,
                ..spec()
            },
            JobSpec {
                size: Size {
                    width: 20_000,
                    height: 10,
                },
                ..spec()
            },
            JobSpec {
                frames: FrameRange {
                    start: 1,
                    end: 200_000,
                },
                ..spec()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
