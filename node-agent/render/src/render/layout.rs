//! Which binding of `shaders/pathtrace.wgsl` holds what, per shader variant.
//!
//! All variants read the globals from a uniform buffer. Storage variants keep the scene arrays in
//! storage buffers. The small-scene variant (`build.rs` `SCENE_UNIFORM`) puts them in 64 KiB
//! uniform buffers, per-triangle records split by component so that each buffer holds 4096:
//! lavapipe reads a uniform buffer at per-lane offsets with one gather, a storage buffer with a
//! bounds-checked loop over the lanes. Storage variants with bit 4 (`build.rs`
//! `RECORDS_UNIFORM`) read materials and lights from uniform buffers (256 materials, 512 lights)
//! ([`fits_uniform_records`]) and everything else from storage buffers.

use crate::scene::Scene;
use ash::vk;

pub const GLOBALS: u32 = 0;
pub const NODES: u32 = 1;
pub const TRIS: u32 = 2; // small-scene variant: the v0 components
pub const SHADES: u32 = 3; // small-scene variant: the n0 components
pub const MATERIALS: u32 = 4;
pub const TEXTURES: u32 = 5;
pub const TEXELS: u32 = 6;
pub const LIGHTS: u32 = 7;
pub const ENV_TEXELS: u32 = 8;
pub const ACCUM: u32 = 9;
/// Small-scene variant only: the other components of the triangle and shading records.
pub const TRI_E1: u32 = 10;
pub const TRI_E2: u32 = 11;
pub const SHADE_N1: u32 = 12;
pub const SHADE_N2: u32 = 13;
pub const SHADE_EXTRA: u32 = 14;

/// Per-vertex attribute records (tangents, colours, TEXCOORD_1), a storage buffer in every
/// variant: the last binding, after the small-scene variant's uniform buffers (with a uniform
/// buffer at binding 15, lavapipe 22.3 rendered every ray as a miss).
pub fn attrs(small_scene: bool) -> u32 {
    if small_scene {
        SHADE_EXTRA + 1
    } else {
        ACCUM + 1
    }
}

/// Entries of a small-scene uniform array of vec4 (64 KiB): nodes, triangles, shading records.
pub const UNIFORM_ENTRIES: usize = 4096;
/// Lights (96 bytes each: 512 take 48 KiB) in the small-scene variant.
pub const UNIFORM_RECORDS: usize = 512;
/// Materials (208 bytes each: 256 take 52 KiB of a 64 KiB buffer) in the small-scene variant.
pub const UNIFORM_MATERIALS: usize = 256;
const UNIFORM_BUFFERS: u32 = 11;

/// Number of bindings of a variant's descriptor set.
pub fn bindings(small_scene: bool) -> u32 {
    attrs(small_scene) + 1
}

/// Bit b set: binding b is a uniform buffer. `records`: a storage variant's materials and
/// lights in uniform buffers (`build.rs` `RECORDS_UNIFORM`).
pub fn uniform_mask(small_scene: bool, records: bool) -> u32 {
    let scene_arrays = [
        NODES,
        TRIS,
        SHADES,
        MATERIALS,
        LIGHTS,
        TRI_E1,
        TRI_E2,
        SHADE_N1,
        SHADE_N2,
        SHADE_EXTRA,
    ];
    let mut mask = 1 << GLOBALS;
    if small_scene {
        for b in scene_arrays {
            mask |= 1 << b;
        }
    } else if records {
        mask |= 1 << MATERIALS | 1 << LIGHTS;
    }
    mask
}

/// Whether a storage-variant scene's materials and lights fit uniform buffers of
/// `UNIFORM_MATERIALS` materials and `UNIFORM_RECORDS` lights (lights include every emissive
/// triangle).
pub fn fits_uniform_records(scene: &Scene, limits: &vk::PhysicalDeviceLimits) -> bool {
    scene.materials.len() <= UNIFORM_MATERIALS
        && scene.lights.len() <= UNIFORM_RECORDS
        && limits.max_uniform_buffer_range as usize >= UNIFORM_MATERIALS * 208
        && limits.max_uniform_buffer_range as usize >= UNIFORM_RECORDS * 96
        && limits.max_per_stage_descriptor_uniform_buffers >= 3
}

/// Whether `scene` fits the small-scene variant on a device with these limits.
pub fn fits_small_scene(scene: &Scene, limits: &vk::PhysicalDeviceLimits) -> bool {
    scene.nodes.len() <= UNIFORM_ENTRIES
        && scene.tris.len() <= UNIFORM_ENTRIES
        && scene.materials.len() <= UNIFORM_MATERIALS
        && scene.lights.len() <= UNIFORM_RECORDS
        && limits.max_uniform_buffer_range as usize >= UNIFORM_ENTRIES * 16
        && limits.max_per_stage_descriptor_uniform_buffers >= UNIFORM_BUFFERS
}

/// What the scene array at `binding` holds, for error messages.
pub fn binding_name(binding: u32, small_scene: bool) -> &'static str {
    if binding == attrs(small_scene) {
        return "vertex attribute records (128 bytes per triangle with tangents, colours or TEXCOORD_1)";
    }
    match binding {
        GLOBALS => "globals",
        NODES => "BVH nodes (16 bytes each)",
        TRIS => "triangles (48 bytes each)",
        SHADES => "triangle shading records (64 bytes each)",
        MATERIALS => "materials (208 bytes each)",
        TEXTURES => "texture records (48 bytes each)",
        TEXELS => "texture texels (4 bytes each, all textures together)",
        LIGHTS => "lights (96 bytes each)",
        ENV_TEXELS => "environment texels (16 bytes each)",
        ACCUM => "accumulation buffer",
        TRI_E1 | TRI_E2 => "triangle edges (16 bytes each)",
        SHADE_N1 | SHADE_N2 | SHADE_EXTRA => "triangle shading components (16 bytes each)",
        _ => "scene array",
    }
}

/// The device's largest buffer ranges one descriptor may bind (`VkPhysicalDeviceLimits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferLimits {
    /// `maxStorageBufferRange`, bytes.
    pub max_storage_buffer_range: u64,
    /// `maxUniformBufferRange`, bytes.
    pub max_uniform_buffer_range: u64,
}

impl BufferLimits {
    pub fn of(limits: &vk::PhysicalDeviceLimits) -> BufferLimits {
        BufferLimits {
            max_storage_buffer_range: limits.max_storage_buffer_range.into(),
            max_uniform_buffer_range: limits.max_uniform_buffer_range.into(),
        }
    }
}

/// Checks every array `(binding, bytes)` against the device's range for its kind of buffer
/// (`uniform_mask` bit set: uniform), before anything is allocated. The error names the array,
/// its size, the limit and the device's value.
pub fn check_array_sizes(
    arrays: &[(u32, u64)],
    uniform_mask: u32,
    small_scene: bool,
    limits: BufferLimits,
    device: &str,
) -> Result<(), String> {
    for &(binding, bytes) in arrays {
        let (limit, value) = if uniform_mask & (1 << binding) != 0 {
            ("maxUniformBufferRange", limits.max_uniform_buffer_range)
        } else {
            ("maxStorageBufferRange", limits.max_storage_buffer_range)
        };
        if bytes > value {
            return Err(format!(
                "scene array {} (binding {binding}) is {bytes} bytes ({:.1} MiB), over {device}'s \
                 {limit} of {value} bytes ({:.1} MiB); use fewer triangles or smaller textures",
                binding_name(binding, small_scene),
                bytes as f64 / (1u64 << 20) as f64,
                value as f64 / (1u64 << 20) as f64,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_sizes_are_checked_against_the_device_range_of_their_kind() {
        let limits = BufferLimits {
            max_storage_buffer_range: 1000,
            max_uniform_buffer_range: 100,
        };
        let mask = uniform_mask(false, false);
        // At the limit fits; one byte over is refused, naming array, size, limit and value.
        assert!(check_array_sizes(
            &[(SHADES, 1000), (GLOBALS, 100)],
            mask,
            false,
            limits,
            "dev"
        )
        .is_ok());
        let e = check_array_sizes(
            &[(NODES, 10), (SHADES, 1001)],
            mask,
            false,
            limits,
            "Fake GPU",
        )
        .unwrap_err();
        assert!(e.contains("triangle shading records"), "{e}");
        assert!(e.contains("1001 bytes"), "{e}");
        assert!(e.contains("maxStorageBufferRange of 1000 bytes"), "{e}");
        assert!(e.contains("Fake GPU"), "{e}");
        // The globals are a uniform buffer: the uniform range applies.
        let e = check_array_sizes(&[(GLOBALS, 101)], mask, false, limits, "dev").unwrap_err();
        assert!(e.contains("maxUniformBufferRange of 100 bytes"), "{e}");
        // In the small-scene variant the nodes are uniform too; attrs stay storage.
        let small = uniform_mask(true, false);
        assert!(check_array_sizes(&[(NODES, 101)], small, true, limits, "dev").is_err());
        assert!(check_array_sizes(&[(attrs(true), 1000)], small, true, limits, "dev").is_ok());
        let e = check_array_sizes(&[(attrs(true), 1001)], small, true, limits, "dev").unwrap_err();
        assert!(e.contains("vertex attribute records"), "{e}");
    }

    #[test]
    fn masks_match_binding_counts() {
        assert_eq!(uniform_mask(true, false).count_ones(), UNIFORM_BUFFERS);
        assert_eq!(uniform_mask(true, true), uniform_mask(true, false));
        assert_eq!(uniform_mask(false, true), 1 | 1 << MATERIALS | 1 << LIGHTS);
        assert_eq!(uniform_mask(false, false), 1);
        assert!(uniform_mask(true, false) < 1 << bindings(true));
        assert_eq!(uniform_mask(true, false) & (1 << ACCUM), 0);
        for small in [false, true] {
            assert_eq!(uniform_mask(small, !small) & (1 << attrs(small)), 0);
            assert_eq!(attrs(small) + 1, bindings(small));
        }
    }
}
