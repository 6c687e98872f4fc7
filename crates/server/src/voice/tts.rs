//! Prompts for the PBX: text-to-speech through `espeak-ng` and uploaded
//! WAV files, turned into 8 kHz pre-encoded [`Prompt`]s and cached.
//!
//! Owns: running espeak-ng (one process per distinct text, however many
//! calls ask for it at once), the on-disk cache of converted prompts and
//! the in-memory map of shared `Arc<Prompt>`s. Must never: run a shell,
//! pass caller-controlled text as a command-line argument (the text goes
//! through stdin, so a text starting with `-` is just text), or block a
//! runtime thread on conversion (resampling runs on the blocking pool).

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use switchboard_voice::media::prompt::{PROMPT_RATE, Prompt, PromptError, tts_cache_key};
use tokio::io::AsyncWriteExt;
use tokio::sync::OnceCell;

/// Longest text synthesised (about a minute of speech).
pub const MAX_TTS_CHARS: usize = 1000;
/// espeak-ng gets this long per prompt.
const SYNTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Prompts kept in memory; beyond that, idle entries are evicted (the disk
/// cache still has them).
const MAX_MEMORY_ENTRIES: usize = 512;

/// Why a prompt could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// Empty text or text over [`MAX_TTS_CHARS`].
    #[error("text must be 1 to {MAX_TTS_CHARS} characters")]
    BadText,
    /// A voice name espeak-ng could not have (letters, digits, `-+_/`).
    #[error("invalid voice name")]
    BadVoice,
    /// espeak-ng is not installed or could not start.
    #[error("espeak-ng could not be run: {0}")]
    Spawn(std::io::Error),
    /// espeak-ng exited with an error or produced nothing.
    #[error("espeak-ng failed: {0}")]
    Synthesis(String),
    /// espeak-ng did not finish in time.
    #[error("espeak-ng timed out")]
    Timeout,
    /// The audio could not be decoded.
    #[error(transparent)]
    Prompt(#[from] PromptError),
    /// An uploaded prompt file is gone or could not be read.
    #[error("prompt file: {0}")]
    File(String),
    /// Reading or writing the cache directory.
    #[error("prompt cache: {0}")]
    Io(#[from] std::io::Error),
}

type Slot = Arc<OnceCell<Arc<Prompt>>>;

/// In-memory + on-disk prompt cache. Cheap to clone.
#[derive(Clone)]
pub struct PromptCache {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    espeak: PathBuf,
    /// One slot per key: the first request fills it, concurrent ones wait
    /// on the same `OnceCell` (single flight); a failed fill leaves it
    /// empty so the next request retries.
    slots: Mutex<HashMap<String, Slot>>,
    synth_runs: AtomicU64,
}

impl PromptCache {
    /// A cache under `cache_dir` (created on first write).
    pub fn new(cache_dir: PathBuf) -> PromptCache {
        Self::with_espeak(cache_dir, PathBuf::from("espeak-ng"))
    }

    /// Like [`Self::new`] with an explicit espeak-ng binary.
    pub fn with_espeak(cache_dir: PathBuf, espeak: PathBuf) -> PromptCache {
        PromptCache {
            inner: Arc::new(Inner {
                dir: cache_dir,
                espeak,
                slots: Mutex::new(HashMap::new()),
                synth_runs: AtomicU64::new(0),
            }),
        }
    }

    #[allow(dead_code)] // API (metrics, uploaded prompts); used by the tests so far.
    /// How many times espeak-ng has been started (metrics, tests).
    pub fn synth_runs(&self) -> u64 {
        self.inner.synth_runs.load(Ordering::Relaxed)
    }

    /// `espeak-ng --stdout -v {voice}` with `text` → Prompt (8 kHz), cached
    /// by `tts_cache_key` on disk and in memory; concurrent requests for
    /// the same text run espeak once.
    pub async fn tts(&self, text: &str, voice: &str) -> Result<Arc<Prompt>, TtsError> {
        let text = text.trim();
        if text.is_empty() || text.chars().count() > MAX_TTS_CHARS {
            return Err(TtsError::BadText);
        }
        if voice.is_empty()
            || voice.len() > 64
            || voice.starts_with('-')
            || !voice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-+_/".contains(c))
        {
            return Err(TtsError::BadVoice);
        }
        let key = format!("tts-{}", tts_cache_key(text, voice));
        self.get_or_make(key, || async {
            let wav = self.run_espeak(text, voice).await?;
            convert(wav).await
        })
        .await
    }

    #[allow(dead_code)] // API (metrics, uploaded prompts); used by the tests so far.
    /// An uploaded WAV (bytes) → Prompt, cached by a content hash.
    pub async fn wav(&self, bytes: &[u8]) -> Result<Arc<Prompt>, TtsError> {
        let hash = Sha256::digest(bytes);
        let key = format!("wav-{}", hex::encode(hash));
        self.get_or_make(key, || convert(bytes.to_vec())).await
    }

    /// An uploaded prompt file → Prompt, cached by workspace and
    /// attachment id (attachments never change, so the id is the content's
    /// name); `load` reads the bytes on a miss only.
    pub async fn attachment<F, Fut>(
        &self,
        ws: i64,
        attachment: i64,
        load: F,
    ) -> Result<Arc<Prompt>, TtsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, TtsError>>,
    {
        let key = format!("att-{ws}-{attachment}");
        self.get_or_make(key, || async { convert(load().await?).await })
            .await
    }

    async fn get_or_make<F, Fut>(&self, key: String, make: F) -> Result<Arc<Prompt>, TtsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Prompt, TtsError>>,
    {
        let slot = self.slot(&key);
        let path = self.inner.dir.join(format!("{key}.wav"));
        slot.get_or_try_init(|| async {
            if let Some(p) = load_cached(&path).await {
                return Ok(Arc::new(p));
            }
            let prompt = make().await?;
            if let Err(e) = store_cached(&self.inner.dir, &path, &prompt).await {
                // Still usable from memory; only the restart cache is lost.
                tracing::warn!(path = %path.display(), error = %e, "prompt not written to the cache");
            }
            Ok(Arc::new(prompt))
        })
        .await
        .cloned()
    }

    fn slot(&self, key: &str) -> Slot {
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = slots.get(key) {
            return s.clone();
        }
        if slots.len() >= MAX_MEMORY_ENTRIES {
            // Evict filled slots nobody is waiting on; prompts in use stay
            // alive through their Arcs in the players.
            slots.retain(|_, s| !s.initialized() || Arc::strong_count(s) > 1);
        }
        let s: Slot = Arc::new(OnceCell::new());
        slots.insert(key.to_owned(), s.clone());
        s
    }

    async fn run_espeak(&self, text: &str, voice: &str) -> Result<Vec<u8>, TtsError> {
        self.inner.synth_runs.fetch_add(1, Ordering::Relaxed);
        let mut child = tokio::process::Command::new(&self.inner.espeak)
            .arg("--stdout")
            .arg("-v")
            .arg(voice)
            .arg("--stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(TtsError::Spawn)?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| TtsError::Synthesis("no stdin".into()))?;
        let input = format!("{text}\n");
        let run = async move {
            // Written concurrently with reading stdout so a long text cannot
            // deadlock on full pipes.
            let write = async move {
                let r = stdin.write_all(input.as_bytes()).await;
                drop(stdin);
                r
            };
            let (w, out) = tokio::join!(write, child.wait_with_output());
            w?;
            out
        };
        let out = tokio::time::timeout(SYNTH_TIMEOUT, run)
            .await
            .map_err(|_| TtsError::Timeout)?
            .map_err(TtsError::Io)?;
        if !out.status.success() || out.stdout.len() < 44 {
            let msg = String::from_utf8_lossy(&out.stderr);
            return Err(TtsError::Synthesis(format!(
                "{} {}",
                out.status,
                msg.trim().chars().take(200).collect::<String>()
            )));
        }
        Ok(out.stdout)
    }
}

/// Decode + resample on the blocking pool (tens of ms for long prompts).
async fn convert(bytes: Vec<u8>) -> Result<Prompt, TtsError> {
    tokio::task::spawn_blocking(move || Prompt::from_wav(&bytes))
        .await
        .map_err(|e| TtsError::Synthesis(format!("conversion task: {e}")))?
        .map_err(TtsError::from)
}

async fn load_cached(path: &Path) -> Option<Prompt> {
    let bytes = tokio::fs::read(path).await.ok()?;
    let decoded = tokio::task::spawn_blocking(move || decode_cached(&bytes)).await;
    match decoded {
        Ok(Ok(p)) => Some(p),
        Ok(Err(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "corrupt prompt cache entry; regenerating");
            None
        }
        Err(_) => None,
    }
}

/// Cache files are what [`store_cached`] wrote: 8 kHz mono 16-bit, read
/// back sample-exact (no float round trip).
fn decode_cached(bytes: &[u8]) -> Result<Prompt, PromptError> {
    let mut r = hound::WavReader::new(Cursor::new(bytes))?;
    let spec = r.spec();
    if spec.channels != 1
        || spec.sample_rate != PROMPT_RATE
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(PromptError::Unsupported("not a prompt cache file"));
    }
    let pcm = r.samples::<i16>().collect::<Result<Vec<_>, _>>()?;
    Ok(Prompt::from_pcm(pcm))
}

async fn store_cached(dir: &Path, path: &Path, prompt: &Prompt) -> Result<(), TtsError> {
    let mut buf = Cursor::new(Vec::with_capacity(prompt.pcm().len() * 2 + 44));
    {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: PROMPT_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut buf, spec).map_err(PromptError::from)?;
        let mut samples = w.get_i16_writer(prompt.pcm().len() as u32);
        for &s in prompt.pcm() {
            samples.write_sample(s);
        }
        samples.flush().map_err(PromptError::from)?;
        w.finalize().map_err(PromptError::from)?;
    }
    tokio::fs::create_dir_all(dir).await?;
    // Write then rename, so a crash or a concurrent reader never sees half
    // a file.
    let tmp = path.with_extension(format!("tmp{}", rand::random::<u32>()));
    tokio::fs::write(&tmp, buf.into_inner()).await?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "switchboard-tts-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn espeak_available() -> bool {
        std::process::Command::new("which")
            .arg("espeak-ng")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn rms(pcm: &[i16]) -> f64 {
        (pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len().max(1) as f64).sqrt()
    }

    #[tokio::test]
    async fn tts_synthesises_once_and_caches() {
        if !espeak_available() {
            eprintln!("SKIP tts_synthesises_once_and_caches: espeak-ng not installed");
            return;
        }
        let dir = temp_dir("synth");
        let cache = PromptCache::new(dir.clone());
        // Concurrent first requests share one espeak-ng run.
        let (a, b) = tokio::join!(
            cache.tts("Press two for sales", "en"),
            cache.tts("Press two for sales", "en")
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.synth_runs(), 1);
        // "Press two for sales" is about 1–2 s of speech.
        let ms = a.duration_ms();
        assert!((600..=4000).contains(&ms), "implausible duration {ms} ms");
        assert_eq!(a.pcm().len() % 160, 0);
        assert!(
            rms(a.pcm()) > 300.0,
            "prompt is (near) silent: rms {}",
            rms(a.pcm())
        );

        // Memory hit.
        let c = cache.tts("Press two for sales", "en").await.unwrap();
        assert!(Arc::ptr_eq(&a, &c));
        assert_eq!(cache.synth_runs(), 1);

        // Disk hit from a fresh cache (a restarted server).
        let cache2 = PromptCache::new(dir.clone());
        let d = cache2.tts("Press two for sales", "en").await.unwrap();
        assert_eq!(cache2.synth_runs(), 0);
        assert!(d.pcm() == a.pcm(), "disk cache is not sample-exact");

        // Different text → another run; option-looking text is just text.
        let e = cache.tts("-w /tmp/x two", "en").await.unwrap();
        assert!(e.frame_count() > 0);
        assert_eq!(cache.synth_runs(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn tts_rejects_bad_input_and_missing_binary() {
        let dir = temp_dir("bad");
        let cache = PromptCache::with_espeak(dir.clone(), PathBuf::from("/nonexistent/espeak-ng"));
        assert!(matches!(
            cache.tts("  ", "en").await,
            Err(TtsError::BadText)
        ));
        assert!(matches!(
            cache.tts("hi", "-w").await,
            Err(TtsError::BadVoice)
        ));
        assert!(matches!(
            cache.tts("hi", "en; rm").await,
            Err(TtsError::BadVoice)
        ));
        assert!(matches!(
            cache.tts("hi", "en").await,
            Err(TtsError::Spawn(_))
        ));
        // A failure is not cached: the next request tries again.
        assert!(matches!(
            cache.tts("hi", "en").await,
            Err(TtsError::Spawn(_))
        ));
        assert_eq!(cache.synth_runs(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn wav_upload_is_converted_and_cached_by_content() {
        let dir = temp_dir("wav");
        let cache = PromptCache::new(dir.clone());
        // 0.5 s of 440 Hz at 16 kHz stereo.
        let mut buf = Cursor::new(Vec::new());
        {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 16_000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
            for i in 0..8000 {
                let s = (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 16_000.0).sin())
                    as i16;
                w.write_sample(s).unwrap();
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
        }
        let bytes = buf.into_inner();
        let p = cache.wav(&bytes).await.unwrap();
        assert_eq!(p.duration_ms(), 500);
        assert!(rms(p.pcm()) > 3000.0);
        let q = cache.wav(&bytes).await.unwrap();
        assert!(Arc::ptr_eq(&p, &q));
        assert!(cache.wav(b"not a wav").await.is_err());
        let files = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, 1, "one converted prompt on disk");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
