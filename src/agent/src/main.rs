//! `osconfig`: the IoT Hub agent (work in progress, issue 10).

fn main() {
    eprintln!("osconfig: not built yet");
    std::process::exit(2);
}
