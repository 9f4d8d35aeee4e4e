//! Minimal command line for the lab branch: only the `lab` subcommand.
//! The main engineer owns the real main.rs; all logic lives in the library.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "nagle-analyze", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Nagle experiment in network namespaces (needs root).
    Lab(nagle_analyze::lab::LabArgs),
}

fn main() {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Lab(a) => nagle_analyze::lab::run(a),
    };
    if let Err(e) = r {
        eprintln!("nagle-analyze: {e:#}");
        std::process::exit(1);
    }
}
