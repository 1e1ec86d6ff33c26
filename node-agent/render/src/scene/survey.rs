//! Every unsupported feature of a document, found before any data is read, so a scene's problems
//! are reported together rather than one per attempt.

use super::gltf_load::TexUse;
use crate::error::Problem;
use std::collections::BTreeSet;

/// Extensions whose meaning is implemented.
pub const SUPPORTED_EXTENSIONS: &[&str] = &[
    "KHR_materials_clearcoat",
    "KHR_materials_emissive_strength",
    "KHR_lights_punctual",
    "KHR_materials_ior",
    "KHR_materials_sheen",
    "KHR_materials_specular",
    "KHR_materials_transmission",
    "KHR_materials_unlit",
    "KHR_materials_volume",
    "KHR_mesh_quantization",
    "KHR_texture_transform",
];
/// Extensions that cannot change the rendered image, so they are ignored: metadata, and
/// material variants (the default materials are what every viewer shows first).
pub const IGNORED_EXTENSIONS: &[&str] = &["KHR_xmp_json_ld", "KHR_materials_variants"];

/// What the loader does with a glTF extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtensionStatus {
    /// Implemented.
    Supported,
    /// Cannot change the image; ignored.
    Ignored,
    /// Would change the image in ways not implemented: the scene is refused.
    Refused,
}

impl ExtensionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExtensionStatus::Supported => "supported",
            ExtensionStatus::Ignored => "ignored",
            ExtensionStatus::Refused => "refused",
        }
    }
}

impl std::fmt::Display for ExtensionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the loader treats the extension `name`.
pub fn extension_status(name: &str) -> ExtensionStatus {
    if SUPPORTED_EXTENSIONS.contains(&name) {
        ExtensionStatus::Supported
    } else if IGNORED_EXTENSIONS.contains(&name) {
        ExtensionStatus::Ignored
    } else {
        ExtensionStatus::Refused
    }
}

/// What to do about a refused extension, for the common ones.
fn extension_fix(name: &str) -> Option<&'static str> {
    Some(match name {
        "KHR_draco_mesh_compression" => {
            "export without Draco compression (Blender: glTF export > Data > Compression off)"
        }
        "EXT_meshopt_compression" => {
            "export without meshopt compression (gltfpack without -c/-cc, or re-export from Blender)"
        }
        "KHR_materials_pbrSpecularGlossiness" => {
            "convert to metallic-roughness (re-export from Blender's Principled BSDF, or gltf-transform metalrough)"
        }
        "EXT_texture_webp" | "KHR_texture_basisu" | "EXT_texture_avif" => {
            "export textures as PNG/JPEG (Blender: glTF export > Material > Images: Automatic or JPEG)"
        }
        "KHR_materials_iridescence" | "KHR_materials_anisotropy"
        | "KHR_materials_dispersion" | "KHR_materials_diffuse_transmission" => {
            "not rendered: set that Principled BSDF input (Thin Film, Anisotropic, ...) to 0 before export"
        }
        "EXT_mesh_gpu_instancing" => {
            "export without GPU instancing (Blender: glTF export > Data > Mesh > GPU Instances off)"
        }
        "KHR_animation_pointer" => "animate only node transforms and morph weights",
        _ => return None,
    })
}

/// An extension a document names: (name, status, whether `extensionsRequired` lists it).
pub type ExtensionUse = (String, ExtensionStatus, bool);

/// Every extension the document uses or requires, in first-mention order, with its status.
/// Read from the JSON before validation: `gltf` refuses required extensions it does not know.
pub fn extensions(root: &gltf::json::Root) -> Vec<ExtensionUse> {
    let mut seen = BTreeSet::new();
    root.extensions_used
        .iter()
        .chain(&root.extensions_required)
        .filter(|e| seen.insert(e.as_str()))
        .map(|e| {
            let required = root.extensions_required.contains(e);
            (e.clone(), extension_status(e), required)
        })
        .collect()
}

/// One problem per refused extension, with what to do about the common ones.
pub fn extension_problems(extensions: &[ExtensionUse]) -> Vec<Problem> {
    extensions
        .iter()
        .filter(|(_, status, _)| *status == ExtensionStatus::Refused)
        .map(|(name, _, required)| {
            let detail = if *required {
                "required but not supported"
            } else {
                "not supported"
            };
            let mut p = Problem::new(format!("extension {name}"), detail);
            if let Some(fix) = extension_fix(name) {
                p = p.fix(fix);
            }
            p.extension = Some(name.clone());
            p
        })
        .collect()
}

/// Everything else in the (validated) document that the loader cannot render, in document
/// order: non-triangle primitives and texture sets other than 0 and 1.
pub fn feature_problems(doc: &gltf::Document) -> Vec<Problem> {
    let mut out = Vec::new();
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            if prim.mode() != gltf::mesh::Mode::Triangles {
                out.push(
                    Problem::new(
                        format!("mesh {} primitive {}", mesh.index(), prim.index()),
                        format!("mode {:?} (triangles only)", prim.mode()),
                    )
                    .fix("export faces only: no loose edges or points"),
                );
            }
        }
    }

    for m in doc.materials() {
        let what = match m.name() {
            Some(name) => format!("material {} ({name})", m.index().unwrap_or(0)),
            None => format!("material {}", m.index().unwrap_or(0)),
        };
        let pbr = m.pbr_metallic_roughness();
        let sets = [
            pbr.base_color_texture().map(|t| TexUse::info(t).set),
            pbr.metallic_roughness_texture()
                .map(|t| TexUse::info(t).set),
            m.emissive_texture().map(|t| TexUse::info(t).set),
            m.normal_texture().map(|t| TexUse::normal(t).set),
        ];
        if let Some(set) = sets.into_iter().flatten().find(|s| *s > 1) {
            out.push(
                Problem::new(
                    &what,
                    format!("TEXCOORD_{set} (only TEXCOORD_0 and TEXCOORD_1)"),
                )
                .fix("use the first or second UV map for every texture"),
            );
        }
    }
    out
}
