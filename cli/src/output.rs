//! `--output display|json`: every command prints a human view or one JSON document.
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Display,
    Json,
}

impl OutputFormat {
    pub fn is_json(self) -> bool {
        self == OutputFormat::Json
    }

    /// Prints `report` as pretty JSON, or its human form.
    pub fn print<T: Serialize + std::fmt::Display>(self, report: &T) {
        match self {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(report).expect("reports serialize")
            ),
            OutputFormat::Display => print!("{report}"),
        }
    }

    /// Prints a report that only has a JSON form.
    pub fn json<T: Serialize>(self, report: &T) {
        println!(
            "{}",
            serde_json::to_string_pretty(report).expect("reports serialize")
        );
    }

    /// A progress or status line for people; silent in JSON mode (stdout stays one document).
    pub fn note(self, line: impl std::fmt::Display) {
        if !self.is_json() {
            eprintln!("{line}");
        }
    }
}
