//! The tile grid of a frame: tiles are numbered row by row from the top-left,
//! edge tiles are cut to the frame. The orchestrator, the node agent and auditors
//! all number tiles this way, and the receipt's tile leaves carry that number.
use serde::{Deserialize, Serialize};

/// A rectangle of pixels inside a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// How a `width × height` frame is cut into `tile_size` squares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileGrid {
    pub width: u32,
    pub height: u32,
    pub tile_size: u32,
}

impl TileGrid {
    /// `None` when any dimension is zero.
    pub fn new(width: u32, height: u32, tile_size: u32) -> Option<Self> {
        (width > 0 && height > 0 && tile_size > 0).then_some(Self {
            width,
            height,
            tile_size,
        })
    }

    pub fn across(&self) -> u32 {
        self.width.div_ceil(self.tile_size)
    }

    pub fn down(&self) -> u32 {
        self.height.div_ceil(self.tile_size)
    }

    pub fn tiles_per_frame(&self) -> u32 {
        self.across() * self.down()
    }

    /// The rectangle of tile `index`, or `None` past the last tile.
    pub fn rect(&self, index: u32) -> Option<TileRect> {
        if index >= self.tiles_per_frame() {
            return None;
        }
        let (col, row) = (index % self.across(), index / self.across());
        let (x, y) = (col * self.tile_size, row * self.tile_size);
        Some(TileRect {
            x,
            y,
            width: self.tile_size.min(self.width - x),
            height: self.tile_size.min(self.height - y),
        })
    }

    /// Every tile of one frame, in index order.
    pub fn rects(&self) -> impl Iterator<Item = (u32, TileRect)> + '_ {
        (0..self.tiles_per_frame()).map(|i| (i, self.rect(i).expect("index in range")))
    }
}

/// `0-3, 6, 9-15`: tile indices with their consecutive runs joined.
pub fn tile_ranges(tiles: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &t in tiles {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == t => *end = t,
            _ => runs.push((t, t)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_ranges_join_consecutive_runs() {
        assert_eq!(tile_ranges(&[0, 1, 2, 3, 6, 9, 10]), "0-3, 6, 9-10");
        assert_eq!(tile_ranges(&[5]), "5");
    }

    #[test]
    fn tiles_cover_the_frame_exactly_once() {
        for (w, h, t) in [(1920, 1080, 256), (100, 37, 16), (16, 16, 16), (17, 1, 16)] {
            let grid = TileGrid::new(w, h, t).unwrap();
            let mut covered = vec![0u8; (w * h) as usize];
            for (_, r) in grid.rects() {
                for y in r.y..r.y + r.height {
                    for x in r.x..r.x + r.width {
                        covered[(y * w + x) as usize] += 1;
                    }
                }
            }
            assert!(covered.iter().all(|&c| c == 1), "{w}x{h}/{t}");
            assert_eq!(grid.rect(grid.tiles_per_frame()), None);
        }
        let grid = TileGrid::new(1920, 1080, 256).unwrap();
        assert_eq!(grid.tiles_per_frame(), 8 * 5);
        assert_eq!(
            grid.rect(39),
            Some(TileRect {
                x: 1792,
                y: 1024,
                width: 128,
                height: 56
            })
        );
    }
}
