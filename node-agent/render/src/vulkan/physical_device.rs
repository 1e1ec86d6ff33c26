//! Physical-device listing and choice: discrete GPU over integrated over virtual over CPU,
//! unless the caller names a device (substring of its name, or its index).

use crate::error::RenderError;
use ash::vk;

#[derive(Clone, Debug)]
pub struct PhysicalDeviceInfo {
    pub raw: vk::PhysicalDevice,
    pub name: String,
    pub kind: vk::PhysicalDeviceType,
    /// The driver's own name and version text (Vulkan 1.2 `driverName`, `driverInfo`), e.g.
    /// "llvmpipe Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)"; empty below Vulkan 1.2. Two lavapipe
    /// builds report the same device name and differ here (and in speed: renderer README).
    pub driver: String,
    /// Queue family used for compute (a compute-only family when there is one).
    pub queue_family: u32,
}

pub fn enumerate(instance: &ash::Instance) -> Result<Vec<PhysicalDeviceInfo>, RenderError> {
    // SAFETY: valid instance; plain queries.
    let raws = unsafe { instance.enumerate_physical_devices() }
        .map_err(|e| RenderError::NoDevice(format!("vkEnumeratePhysicalDevices: {e}")))?;
    let mut out = Vec::new();
    for (index, raw) in raws.into_iter().enumerate() {
        // SAFETY: `raw` comes from the instance above.
        let props = unsafe { instance.get_physical_device_properties(raw) };
        let families = unsafe { instance.get_physical_device_queue_family_properties(raw) };
        let compute =
            |f: &vk::QueueFamilyProperties| f.queue_flags.contains(vk::QueueFlags::COMPUTE);
        let dedicated = families
            .iter()
            .position(|f| compute(f) && !f.queue_flags.contains(vk::QueueFlags::GRAPHICS));
        let Some(queue_family) = dedicated.or_else(|| families.iter().position(compute)) else {
            continue;
        };
        out.push(PhysicalDeviceInfo {
            raw,
            name: props
                .device_name_as_c_str()
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_else(|_| format!("device {index}")),
            kind: props.device_type,
            driver: driver_text(instance, raw, props.api_version),
            queue_family: queue_family as u32,
        });
    }
    if out.is_empty() {
        return Err(RenderError::NoDevice(
            "no device with a compute queue".into(),
        ));
    }
    Ok(out)
}

fn driver_text(instance: &ash::Instance, raw: vk::PhysicalDevice, api: u32) -> String {
    if vk::api_version_major(api) == 1 && vk::api_version_minor(api) < 2 {
        return String::new();
    }
    let mut driver = vk::PhysicalDeviceDriverProperties::default();
    let mut props = vk::PhysicalDeviceProperties2::default().push_next(&mut driver);
    // SAFETY: `raw` comes from `instance` (created for Vulkan 1.2) and supports 1.2 (checked).
    unsafe { instance.get_physical_device_properties2(raw, &mut props) };
    let text = |r: Result<&std::ffi::CStr, _>| {
        r.map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let name = text(driver.driver_name_as_c_str());
    let info = text(driver.driver_info_as_c_str());
    format!("{name} {info}").trim().to_owned()
}

fn rank(kind: vk::PhysicalDeviceType) -> u32 {
    match kind {
        vk::PhysicalDeviceType::DISCRETE_GPU => 0,
        vk::PhysicalDeviceType::INTEGRATED_GPU => 1,
        vk::PhysicalDeviceType::VIRTUAL_GPU => 2,
        vk::PhysicalDeviceType::CPU => 3,
        _ => 4,
    }
}

/// Picks a device from `(name, type)` pairs: `prefer` is a case-insensitive name substring or an
/// index; otherwise the best-ranked type, first in enumeration order among equals.
pub fn choose(
    devices: &[(String, vk::PhysicalDeviceType)],
    prefer: Option<&str>,
) -> Result<usize, RenderError> {
    let list = || {
        devices
            .iter()
            .enumerate()
            .map(|(i, (n, _))| format!("{i}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if devices.is_empty() {
        return Err(RenderError::NoDevice("no devices".into()));
    }
    match prefer.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            if let Ok(i) = p.parse::<usize>() {
                return if i < devices.len() {
                    Ok(i)
                } else {
                    Err(RenderError::NoMatchingDevice(p.into(), list()))
                };
            }
            let needle = p.to_lowercase();
            devices
                .iter()
                .position(|(n, _)| n.to_lowercase().contains(&needle))
                .ok_or_else(|| RenderError::NoMatchingDevice(p.into(), list()))
        }
        None => Ok((0..devices.len())
            .min_by_key(|&i| (rank(devices[i].1), i))
            .unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vk::PhysicalDeviceType as T;

    fn devs() -> Vec<(String, T)> {
        vec![
            ("llvmpipe (LLVM 15)".into(), T::CPU),
            ("Intel(R) UHD 770".into(), T::INTEGRATED_GPU),
            ("NVIDIA GeForce RTX 4090".into(), T::DISCRETE_GPU),
        ]
    }

    #[test]
    fn prefers_discrete_then_integrated_then_cpu() {
        assert_eq!(choose(&devs(), None).unwrap(), 2);
        assert_eq!(choose(&devs()[..2], None).unwrap(), 1);
        assert_eq!(choose(&devs()[..1], None).unwrap(), 0);
    }

    #[test]
    fn override_by_name_or_index() {
        assert_eq!(choose(&devs(), Some("llvmpipe")).unwrap(), 0);
        assert_eq!(choose(&devs(), Some("intel")).unwrap(), 1);
        assert_eq!(choose(&devs(), Some("0")).unwrap(), 0);
        assert!(matches!(
            choose(&devs(), Some("7")),
            Err(RenderError::NoMatchingDevice(..))
        ));
        let e = choose(&devs(), Some("radeon")).unwrap_err().to_string();
        assert!(e.contains("llvmpipe") && e.contains("radeon"), "{e}");
    }
}
