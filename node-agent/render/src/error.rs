//! Typed errors: [`SceneError`] for loading (no Vulkan involved) and [`RenderError`] for the GPU path.

use thiserror::Error;

/// Why a scene bundle could not be turned into a [`crate::Scene`].
#[derive(Debug, Error)]
pub enum SceneError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid glTF: {0}")]
    Gltf(String),
    #[error("invalid scene bundle: {0}")]
    Bundle(String),
    /// Every unsupported feature found in the scene, not only the first.
    #[error("{}", list_problems(.0))]
    Unsupported(Vec<Problem>),
    #[error("scene exceeds a limit: {0}")]
    Limit(String),
    #[error("bad data in {what}: {detail}")]
    Data { what: String, detail: String },
    #[error("cannot decode image {name}: {detail}")]
    Image { name: String, detail: String },
}

/// One unsupported feature of a scene, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What it concerns: `extension KHR_draco_mesh_compression`, `material 2 (Glass)`,
    /// `mesh 0 primitive 1`, `accessor 7`.
    pub subject: String,
    /// What is not supported.
    pub detail: String,
    /// What to do instead (in Blender, or with the exporter), where known.
    pub fix: Option<String>,
    /// The glTF extension refused, when the problem is one.
    pub extension: Option<String>,
}

impl Problem {
    pub(crate) fn new(subject: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem {
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
            extension: None,
        }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Problem {
        self.fix = Some(fix.into());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, " ({fix})")?;
        }
        Ok(())
    }
}

/// One problem on one line; several, one per line after a count.
fn list_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => format!("unsupported glTF feature: {one}"),
        _ => {
            let mut s = format!("{} unsupported glTF features:", problems.len());
            for p in problems {
                s.push_str("\n  - ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

impl SceneError {
    /// A single unsupported feature.
    pub(crate) fn unsupported(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        SceneError::Unsupported(vec![Problem::new(subject, detail)])
    }

    /// The unsupported features listed, if this is that error.
    pub fn problems(&self) -> &[Problem] {
        match self {
            SceneError::Unsupported(p) => p,
            _ => &[],
        }
    }

    pub(crate) fn data(what: impl Into<String>, detail: impl Into<String>) -> Self {
        SceneError::Data {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Why a tile could not be rendered.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error("no Vulkan device: install mesa-vulkan-drivers or a GPU driver ({0})")]
    NoDevice(String),
    #[error("no Vulkan device matches {0:?}; available: {1}")]
    NoMatchingDevice(String, String),
    #[error("Vulkan call {call} failed: {result}")]
    Vulkan {
        call: &'static str,
        result: ash::vk::Result,
    },
    #[error("device unsuitable: {0}")]
    Unsuitable(String),
    #[error("no memory type for {0}")]
    NoMemoryType(&'static str),
    #[error("invalid tile request: {0}")]
    InvalidRequest(String),
    #[error("GPU did not finish within {0} s (device lost or hung)")]
    Timeout(u64),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Short-hand to attach the call name to a raw `vk::Result`.
pub(crate) trait VkContext<T> {
    fn vk(self, call: &'static str) -> Result<T, RenderError>;
}

impl<T> VkContext<T> for Result<T, ash::vk::Result> {
    fn vk(self, call: &'static str) -> Result<T, RenderError> {
        self.map_err(|result| RenderError::Vulkan { call, result })
    }
}
