//! The OIDC Core §5.1 claim flags of `user create` and `user update`.

use clap::Args;
use serde_json::{json, Map, Value};

/// Standard claims to set on a user; each flag sets one claim, `--claims FILE` many.
#[derive(Args, Debug, Default)]
pub struct ClaimArgs {
    /// Full name (`name`).
    #[arg(long)]
    name: Option<String>,
    /// Given or first name.
    #[arg(long)]
    given_name: Option<String>,
    /// Surname or last name.
    #[arg(long)]
    family_name: Option<String>,
    /// Middle name.
    #[arg(long)]
    middle_name: Option<String>,
    /// Casual name.
    #[arg(long)]
    nickname: Option<String>,
    /// URL of the user's profile page.
    #[arg(long)]
    profile: Option<String>,
    /// URL of the user's picture.
    #[arg(long)]
    picture: Option<String>,
    /// URL of the user's web site or blog.
    #[arg(long)]
    website: Option<String>,
    /// Gender (`female`, `male`, or any other value).
    #[arg(long)]
    gender: Option<String>,
    /// Birthday: YYYY-MM-DD, 0000-MM-DD (year withheld) or YYYY.
    #[arg(long)]
    birthdate: Option<String>,
    /// Time zone, e.g. Europe/Paris.
    #[arg(long)]
    zoneinfo: Option<String>,
    /// Locale, a BCP 47 tag such as en-US.
    #[arg(long)]
    locale: Option<String>,
    /// Phone number, E.164 recommended (+1 555 0100).
    #[arg(long)]
    phone_number: Option<String>,
    /// Mark the phone number as verified (true or false).
    #[arg(long)]
    phone_number_verified: Option<bool>,
    /// Mark the email address as verified (true or false).
    #[arg(long)]
    email_verified: Option<bool>,
    /// A JSON file of claims (an object such as {"given_name":"Ada","address":{"country":"UK"}}); flags win.
    #[arg(long, value_name = "FILE")]
    claims: Option<std::path::PathBuf>,
}

impl ClaimArgs {
    /// The claims as one JSON object, or `None` when no flag was given.
    pub fn to_json(&self) -> anyhow::Result<Option<Value>> {
        let mut m: Map<String, Value> = match &self.claims {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("--claims {}: {e}", path.display()))?;
                match serde_json::from_str(&text) {
                    Ok(Value::Object(m)) => m,
                    _ => anyhow::bail!("--claims {}: not a JSON object", path.display()),
                }
            }
            None => Map::new(),
        };
        let strings = [
            ("name", &self.name),
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
            ("middle_name", &self.middle_name),
            ("nickname", &self.nickname),
            ("profile", &self.profile),
            ("picture", &self.picture),
            ("website", &self.website),
            ("gender", &self.gender),
            ("birthdate", &self.birthdate),
            ("zoneinfo", &self.zoneinfo),
            ("locale", &self.locale),
            ("phone_number", &self.phone_number),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        for (k, v) in [("phone_number_verified", self.phone_number_verified), ("email_verified", self.email_verified)] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        Ok((!m.is_empty()).then_some(Value::Object(m)))
    }
}
