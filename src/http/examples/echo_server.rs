//! A small server on the HTTP layer: `POST /echo` answers its JSON body, `GET /health` answers `{"ok":true}`.
//!
//! `cargo run --release -p osconfig-http --example echo_server -- --socket /tmp/osconfig-demo/echo.sock`
//! then `curl --unix-socket /tmp/osconfig-demo/echo.sock -d '{"hello":1}' http://localhost/echo`. Ctrl-C stops it.

use std::path::PathBuf;

use osconfig_http::signals::{self, Signal};
use osconfig_http::{Method, Request, Responder, Response, Server, SocketOptions, StatusCode};

fn route(request: Request, responder: Responder) {
    let response = match (&request.method, request.route()) {
        (Method::Post, "/echo") => match serde_json::from_slice::<serde_json::Value>(&request.body) {
            Ok(_) => Response::ok(request.body),
            Err(_) => Response::new(StatusCode::BadRequest).with_body(&b"{\"error\":\"body is not JSON\"}"[..]),
        },
        (Method::Get, "/health") => Response::ok(&b"{\"ok\":true}"[..]),
        (_, "/echo" | "/health") => Response::new(StatusCode::MethodNotAllowed),
        _ => Response::new(StatusCode::NotFound),
    };
    responder.respond(response);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut socket = PathBuf::from("/tmp/osconfig-demo/echo.sock");
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--socket", Some(path)) => socket = path.into(),
            _ => {
                eprintln!("usage: echo_server [--socket <path>]");
                std::process::exit(2);
            }
        }
    }
    let server = match Server::bind(&socket, SocketOptions::default()) {
        Ok(server) => server.with_server_header("OSConfig"),
        Err(e) => {
            eprintln!("echo_server: cannot listen on {}: {e}", socket.display());
            std::process::exit(1);
        }
    };
    let handle = server.handle();
    // Stop cleanly (and remove the socket) on SIGINT or SIGTERM.
    let mask = signals::block();
    if let Err(e) = signals::spawn(mask, move |signal| {
        if signal == Signal::Stop {
            handle.shutdown();
        }
    }) {
        eprintln!("echo_server: cannot watch signals: {e}");
        std::process::exit(1);
    }
    println!("echo_server listening on {} (POST /echo, GET /health)", socket.display());
    if let Err(e) = server.run(route) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}
