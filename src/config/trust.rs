//! Certificate authorities trusted besides the system's and the bundled ones.

use super::{ConfigError, ConfigFile, Overrides};

/// The certificate authorities a checker trusts besides the operating system's store and the
/// bundled Mozilla roots: a company CA, for the TLS-inspecting proxies common where Operations
/// work.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub(crate) certificates: Vec<reqwest::Certificate>,
}

impl Trust {
    /// How many extra authorities are trusted.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// Whether only the usual roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

impl ConfigFile {
    /// The extra authorities of `--ca-cert`, else of the file's `ca_cert`: every PEM
    /// certificate in that file. None when neither is given.
    pub fn trust(&self, overrides: &Overrides) -> Result<Trust, ConfigError> {
        let Some(path) = overrides.ca_cert.as_ref().or(self.ca_cert.as_ref()) else {
            return Ok(Trust::default());
        };
        let fail = |reason: String| ConfigError::CaCert {
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        // A CA another user can change lets that user read every request.
        crate::ownership::check("the CA certificate file", path)?;
        let certificates =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| fail(e.to_string()))?;
        if certificates.is_empty() {
            return Err(fail("it holds no PEM certificate".into()));
        }
        Ok(Trust { certificates })
    }
}
