//! Sane defaults for files that open in any glTF viewer: an automatic camera when there is none
//! (or when asked for), and a neutral environment when nothing lights the scene.

mod common;
use common::*;
use serde_json::json;
use tessera_render::{
    Environment, FrameRate, LoadOptions, Scene, TileRequest, AUTO_CAMERA_YFOV_DEGREES,
    NEUTRAL_ENVIRONMENT_STRENGTH,
};

/// A grey cube of side 1 centred on (1, 2, −3), nothing else: no camera, no light.
fn bare_cube() -> Builder {
    let mut b = Builder::default();
    let m = b.material(diffuse([0.8; 3]));
    let cube = b.cube(0.5, m);
    b.nodes[cube]["translation"] = json!([1.0, 2.0, -3.0]);
    b
}

fn corners(lo: [f32; 3], hi: [f32; 3]) -> Vec<[f32; 3]> {
    (0..8)
        .map(|i| [0, 1, 2].map(|k| if i >> k & 1 == 1 { hi[k] } else { lo[k] }))
        .collect()
}

/// Whether `p` lies in front of the scene's camera and inside a square image.
fn projects_inside(s: &Scene, p: [f32; 3]) -> bool {
    let c = s.camera();
    let v = [0, 1, 2].map(|k| p[k] - c.position[k]);
    let dot = |a: [f32; 3], b: [f32; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let z = dot(v, c.forward);
    z > 0.0 && (dot(v, c.right) / z).abs() <= c.scale_y && (dot(v, c.up) / z).abs() <= c.scale_y
}

#[test]
fn no_camera_and_no_light_get_an_automatic_camera_and_a_neutral_environment() {
    let s = Scene::from_bundle(&bare_cube().glb()).unwrap();
    assert!(s.cameras().is_empty());
    assert_eq!(s.camera_index(), None, "the automatic camera");
    let w = s.warnings().join("\n");
    assert!(w.contains("automatic perspective camera"), "{w}");
    assert!(w.contains("no light"), "{w}");
    match s.environment() {
        Environment::Color(c) => assert_eq!(*c, [NEUTRAL_ENVIRONMENT_STRENGTH; 3]),
        e => panic!("expected the neutral environment, got {e:?}"),
    }

    let cam = *s.camera();
    assert_eq!(cam.forward, [0.0, 0.0, -1.0], "looking along −Z");
    assert_eq!(cam.up, [0.0, 1.0, 0.0]);
    let half = (AUTO_CAMERA_YFOV_DEGREES as f32).to_radians() / 2.0;
    assert!((cam.scale_y - half.tan()).abs() < 1e-6);
    // In front of the bounds' centre, at the distance where the bounding sphere (radius √3/2)
    // just fits the field of view.
    let r = 3f32.sqrt() / 2.0;
    let want = [1.0, 2.0, -3.0 + r / half.sin()];
    for (got, want) in cam.position.iter().zip(want) {
        assert!((got - want).abs() < 1e-4, "{cam:?}");
    }
    // A ray through the image centre hits the cube's front face (z = −2.5).
    let (t, _) = s
        .intersect(cam.position, cam.forward)
        .expect("centre ray hits");
    assert!((t - (cam.position[2] + 2.5)).abs() < 1e-4, "t = {t}");
    // Every corner of the bounds projects inside the image.
    let (lo, hi) = s.bounds();
    for p in corners(lo, hi) {
        assert!(projects_inside(&s, p), "corner {p:?} outside the image");
    }
}

#[test]
fn auto_selects_the_automatic_camera_even_when_the_file_has_cameras() {
    let mut b = bare_cube();
    b.perspective([0.0, 0.0, 10.0], 0.5);
    b.nodes.last_mut().unwrap()["name"] = json!("Camera");
    let glb = b.glb();
    let s = Scene::from_bundle(&glb).unwrap();
    assert_eq!(s.camera_index(), Some(0), "the file's camera by default");
    assert_eq!(s.cameras()[0].node.as_deref(), Some("Camera"));
    assert_eq!(s.camera().position, [0.0, 0.0, 10.0]);
    assert!(!s.warnings().join("\n").contains("automatic"));

    let opts = LoadOptions {
        camera: Some("auto".into()),
        ..Default::default()
    };
    let s = Scene::from_bundle_with(&glb, &opts).unwrap();
    assert_eq!(s.camera_index(), None);
    assert_eq!(s.cameras().len(), 1);
    assert!(s.warnings().join("\n").contains("\"auto\" requested"));
    let (lo, hi) = s.bounds();
    assert!(corners(lo, hi).into_iter().all(|p| projects_inside(&s, p)));

    // A name that matches nothing is still an error, and says how to ask for the automatic one.
    let opts = LoadOptions {
        camera: Some("Nope".into()),
        ..Default::default()
    };
    let e = Scene::from_bundle_with(&glb, &opts).err().unwrap();
    assert!(e.to_string().contains("\"auto\""), "{e}");
}

#[test]
fn any_light_or_set_environment_keeps_the_black_default() {
    let black = |s: &Scene| matches!(s.environment(), Environment::Black);
    // A point light.
    let mut b = bare_cube();
    b.point_light([0.0, 5.0, 0.0], 100.0);
    let s = Scene::from_bundle(&b.glb()).unwrap();
    assert!(black(&s));
    assert!(!s.warnings().join("\n").contains("no light"));
    // An emissive surface.
    let mut b = bare_cube();
    b.materials[0]["emissiveFactor"] = json!([1.0, 1.0, 1.0]);
    assert!(black(&Scene::from_bundle(&b.glb()).unwrap()));
    // An environment in the file, even a black one, is what the artist set.
    let mut b = bare_cube();
    b.scene_extras = Some(json!({"tessera_environment": {"color": [0.0, 0.0, 0.0]}}));
    assert!(matches!(
        Scene::from_bundle(&b.glb()).unwrap().environment(),
        Environment::Color([0.0, 0.0, 0.0])
    ));
    // So is one given in the load options.
    let opts = LoadOptions {
        environment: Some(Environment::Black),
        ..Default::default()
    };
    assert!(black(
        &Scene::from_bundle_with(&bare_cube().glb(), &opts).unwrap()
    ));
}

#[test]
fn the_automatic_camera_frames_an_animation_the_same_on_every_frame() {
    // The cube slides from x = 1 (frame 1) to x = 5 (frame 25); the camera frames both ends.
    let mut b = bare_cube();
    b.animate(
        0,
        "translation",
        "LINEAR",
        &[0.0, 1.0],
        &[1.0, 2.0, -3.0, 5.0, 2.0, -3.0],
    );
    let glb = b.glb();
    let frames: Vec<Scene> = [1, 13, 25, 40]
        .iter()
        .map(|&f| Scene::from_bundle_with(&glb, &LoadOptions::at_frame(f, FrameRate::DEFAULT)))
        .collect::<Result<_, _>>()
        .unwrap();
    for s in &frames[1..] {
        assert_eq!(s.camera().position, frames[0].camera().position);
    }
    for s in [&frames[0], &frames[2]] {
        let (lo, hi) = s.bounds();
        assert!(corners(lo, hi).into_iter().all(|p| projects_inside(s, p)));
    }
    assert_eq!(frames[0].animation_duration(), Some(1.0));
    assert_eq!(frames[0].animation_frames(FrameRate::DEFAULT), 25);
}

/// On the GPU: the bare cube renders, grey against the white neutral environment.
#[test]
fn gpu_a_scene_without_camera_or_light_renders_non_black() {
    let scene = Scene::from_bundle(&bare_cube().glb()).unwrap();
    let mut r = renderer();
    let req = TileRequest {
        linear: true,
        ..TileRequest::whole_frame(32, 32, 16, 4, 1)
    };
    let img = r.render_tile(&[7; 32], &scene, &req).unwrap();
    let centre = mean_linear(&img, 14, 14, 18, 18);
    let corner = mean_linear(&img, 0, 0, 3, 3);
    for c in centre {
        assert!(c > 0.3 && c < 0.95, "cube at the centre: {centre:?}");
    }
    for c in corner {
        assert!(
            (c - 1.0).abs() < 1e-3,
            "environment in the corner: {corner:?}"
        );
    }
    assert!(img.rgba8.chunks(4).any(|p| p[0] > 0));
}
