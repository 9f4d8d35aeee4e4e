//! The lab: reproduce the Nagle experiment with real kernel TCP.
//! (Placeholder until the lab lands.)

#[derive(Debug, clap::Args)]
pub struct LabArgs {}

pub fn run(_args: &LabArgs) -> anyhow::Result<()> {
    anyhow::bail!("the lab is not built yet")
}
