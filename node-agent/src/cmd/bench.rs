//! `node-agent bench`: renders the standard scene shipped with tessera-render.

use super::DeviceArgs;
use clap::Args;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 960)]
    pub width: u32,
    #[arg(long, default_value_t = 540)]
    pub height: u32,
    #[arg(long, default_value_t = 16)]
    pub spp: u32,
    #[arg(long, default_value_t = 6)]
    pub bounces: u32,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let mut renderer = args.device.renderer()?;
    let r = tessera_render::bench::run_standard(
        &mut renderer,
        args.width,
        args.height,
        args.spp,
        args.bounces,
    )?;
    println!("device          {}", r.device);
    println!("driver          {}", r.driver);
    println!(
        "scene           cornell.glb {}×{}, {} spp, {} bounces",
        args.width, args.height, args.spp, args.bounces
    );
    println!("seconds         {:.3}", r.seconds);
    println!("Msamples/s      {:.3}", r.msamples_per_s);
    println!("score           {:.0}   (100 = 10 Msamples/s)", r.score);
    Ok(())
}
