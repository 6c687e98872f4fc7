//! `switchboard-emulator`: the provider emulators as a process, for the
//! demo and scripts. Prints its base URL on the first line of stdout.

use std::net::SocketAddr;
use std::process::ExitCode;

use switchboard_emulator::{Emulator, TELEGRAM_BOT_TOKEN, WHATSAPP_TOKEN};

const USAGE: &str = "\
Usage: switchboard-emulator [--listen ADDR] [--whatsapp-token TOKEN]... [--telegram-token TOKEN]...

Emulates the WhatsApp Cloud API and the Telegram Bot API over HTTP.

  --listen ADDR            address to listen on (default 127.0.0.1:9900; port 0 picks one)
  --whatsapp-token TOKEN   another accepted WhatsApp access token (repeatable)
  --telegram-token TOKEN   another accepted Telegram bot token (repeatable)
  -h, --help               this text

Always accepted: WhatsApp token `emulator-whatsapp-token`, Telegram bot token
`100000001:emulator-telegram-token`.

Control API: POST /_emulator/failures {rate_429, rate_5xx, retry_after_secs, seed}
  GET /_emulator/sent, GET /_emulator/stats, POST /_emulator/tokens {whatsapp?, telegram?}
  POST /_emulator/whatsapp/inbound {webhook_url, app_secret, phone_number_id, from, name, text}
  POST /_emulator/whatsapp/status {webhook_url, app_secret, phone_number_id, wamid, status, recipient}
  POST /_emulator/whatsapp/window {wa_id, closed}
  POST /_emulator/whatsapp/subscribe {phone_number_id, webhook_url, app_secret}
    (accepted sends from that number get their `sent` status webhook there)
  POST /_emulator/telegram/inbound {webhook_url, secret_token, chat_id, first_name, text}
  POST /_emulator/telegram/block {chat_id, blocked}
  POST /_emulator/viber/inbound {webhook_url, auth_token, user_id, name, text}
  POST /_emulator/viber/event {webhook_url, auth_token, event, user_id, message_token?}
  POST /_emulator/viber/subscription {user_id, subscribed}, POST /_emulator/viber/tokens {auth_token}
  (Viber send API: POST /pa/send_message; always accepted auth token
  `4a0d0b1c2e3f4a5b-emulator-viber-token`)
";

struct Args {
    listen: SocketAddr,
    whatsapp_tokens: Vec<String>,
    telegram_tokens: Vec<String>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 9900)),
        whatsapp_tokens: Vec::new(),
        telegram_tokens: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => {
                let addr = value("--listen")?;
                parsed.listen = addr.parse().map_err(|e| format!("--listen {addr}: {e}"))?;
            }
            "--whatsapp-token" => parsed.whatsapp_tokens.push(value("--whatsapp-token")?),
            "--telegram-token" => parsed.telegram_tokens.push(value("--telegram-token")?),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Some(parsed))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("switchboard-emulator: {err}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emulator = match Emulator::bind(args.listen).await {
        Ok(emulator) => emulator,
        Err(err) => {
            eprintln!(
                "switchboard-emulator: cannot listen on {}: {err}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    for token in &args.whatsapp_tokens {
        emulator.allow_whatsapp_token(token);
    }
    for token in &args.telegram_tokens {
        emulator.allow_telegram_token(token);
    }
    println!("{}", emulator.base_url());
    eprintln!(
        "switchboard-emulator: WhatsApp token {WHATSAPP_TOKEN:?}, Telegram bot token {TELEGRAM_BOT_TOKEN:?}"
    );
    if let Err(err) = tokio::signal::ctrl_c().await {
        eprintln!("switchboard-emulator: cannot wait for Ctrl-C: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Args>, String> {
        parse_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_flags() {
        let parsed = args(&[
            "--listen",
            "127.0.0.1:0",
            "--telegram-token",
            "1:x",
            "--telegram-token",
            "2:y",
        ]);
        let Ok(Some(parsed)) = parsed else {
            panic!("expected args")
        };
        assert_eq!(parsed.listen.port(), 0);
        assert_eq!(parsed.telegram_tokens, ["1:x", "2:y"]);
        assert!(matches!(args(&["--help"]), Ok(None)));
        assert!(args(&["--listen"]).is_err());
        assert!(args(&["--bogus"]).is_err());
    }
}
