//! Writing the commands' output to standard output (see [`outln!`]).

use std::fmt::Arguments;
use std::io::{ErrorKind, Write};

/// Writes `args` and a newline to standard output.
pub fn write_line(args: Arguments) {
    let mut stdout = std::io::stdout().lock();
    settle(
        stdout
            .write_fmt(args)
            .and_then(|()| stdout.write_all(b"\n")),
    );
}

/// Writes `args` to standard output.
pub fn write(args: Arguments) {
    let mut stdout = std::io::stdout().lock();
    settle(stdout.write_fmt(args).and_then(|()| stdout.flush()));
}

fn settle(result: std::io::Result<()>) {
    match result {
        Ok(()) => {}
        // The reader has what it wanted and went away.
        Err(error) if error.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            std::process::exit(1);
        }
    }
}
