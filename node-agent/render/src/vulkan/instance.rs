//! The Vulkan loader and instance (optionally with the Khronos validation layer).

use crate::error::{RenderError, VkContext};
use ash::vk;
use std::ffi::{c_void, CStr};
use std::sync::Arc;

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

pub struct Instance {
    /// Keeps libvulkan loaded while the instance exists.
    _entry: ash::Entry,
    pub raw: ash::Instance,
    debug: Option<(ash::ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
}

impl Instance {
    pub fn new(validation: bool) -> Result<Arc<Instance>, RenderError> {
        // SAFETY: loading the system Vulkan loader; its symbols are only used through ash.
        let entry = unsafe { ash::Entry::load() }
            .map_err(|e| RenderError::NoDevice(format!("cannot load libvulkan: {e}")))?;
        let app = vk::ApplicationInfo::default()
            .application_name(c"tessera-render")
            .api_version(vk::API_VERSION_1_2);
        let mut layers = Vec::new();
        let mut extensions = Vec::new();
        if validation {
            // SAFETY: plain query.
            let available = unsafe { entry.enumerate_instance_layer_properties() }
                .vk("vkEnumerateInstanceLayerProperties")?;
            let found = available
                .iter()
                .any(|l| l.layer_name_as_c_str().is_ok_and(|n| n == VALIDATION_LAYER));
            if found {
                layers.push(VALIDATION_LAYER.as_ptr());
                extensions.push(ash::ext::debug_utils::NAME.as_ptr());
            } else {
                tracing::warn!("validation requested but VK_LAYER_KHRONOS_validation is not installed (apt-get install vulkan-validationlayers)");
            }
        }
        let info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layers)
            .enabled_extension_names(&extensions);
        // SAFETY: create info and the strings it points to outlive the call.
        let raw = unsafe { entry.create_instance(&info, None) }.map_err(|e| match e {
            vk::Result::ERROR_INCOMPATIBLE_DRIVER | vk::Result::ERROR_INITIALIZATION_FAILED => {
                RenderError::NoDevice(format!("vkCreateInstance: {e}"))
            }
            result => RenderError::Vulkan {
                call: "vkCreateInstance",
                result,
            },
        })?;
        let debug = if extensions.is_empty() {
            None
        } else {
            let loader = ash::ext::debug_utils::Instance::new(&entry, &raw);
            let info = vk::DebugUtilsMessengerCreateInfoEXT::default()
                .message_severity(
                    vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                        | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
                )
                .message_type(
                    vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                        | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                        | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
                )
                .pfn_user_callback(Some(debug_callback));
            // SAFETY: valid instance and create info.
            let messenger = unsafe { loader.create_debug_utils_messenger(&info, None) }
                .vk("vkCreateDebugUtilsMessengerEXT")?;
            Some((loader, messenger))
        };
        Ok(Arc::new(Instance {
            _entry: entry,
            raw,
            debug,
        }))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: every child object holds an Arc<Instance> (through Device), so none is alive here.
        unsafe {
            if let Some((loader, messenger)) = self.debug.take() {
                loader.destroy_debug_utils_messenger(messenger, None);
            }
            self.raw.destroy_instance(None);
        }
    }
}

unsafe extern "system" fn debug_callback(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _kind: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    _user: *mut c_void,
) -> vk::Bool32 {
    // SAFETY: the layer passes a valid callback-data struct for the duration of the call.
    let msg = unsafe { data.as_ref() }
        .and_then(|d| unsafe { d.message_as_c_str() })
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR) {
        tracing::error!(target: "vulkan", "{msg}");
    } else {
        tracing::warn!(target: "vulkan", "{msg}");
    }
    vk::FALSE
}
