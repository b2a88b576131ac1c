//! Email bodies from templates (`src/mail/templates/`, compiled into the binary): a plain-text
//! and an HTML body per kind and language, the subject being the text template's first line.
//! HTML templates escape every value (MiniJinja's auto-escape by file name); text templates
//! none, as mail clients show text as text.

use std::sync::LazyLock;

use minijinja::{Environment, Value};

use super::kinds::{EmailKind, Language};

/// What an email says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

macro_rules! templates {
    ($($lang:literal: [$($name:literal),+ $(,)?]),+ $(,)?) => {
        &[$($(
            (concat!($lang, "/", $name), include_str!(concat!("templates/", $lang, "/", $name))),
        )+)+]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "en": ["layout.html", "invite.txt", "invite.html", "password_reset.txt", "password_reset.html",
           "password_changed.txt", "password_changed.html", "email_changed.txt",
           "email_changed.html", "weekly_digest.txt", "weekly_digest.html"],
    "nb": ["layout.html", "invite.txt", "invite.html", "password_reset.txt", "password_reset.html",
           "password_changed.txt", "password_changed.html", "email_changed.txt",
           "email_changed.html", "weekly_digest.txt", "weekly_digest.html"],
);

static ENVIRONMENT: LazyLock<Result<Environment<'static>, String>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| format!("{name}: {e:#}"))?;
    }
    Ok(env)
});

/// Render `kind` in `lang` with `values` (each template's own are listed at its top), plus
/// the values every template gets: `organisation`, `name` and `lang`.
pub fn render(
    kind: EmailKind,
    lang: Language,
    organisation: &str,
    name: &str,
    values: Value,
) -> Result<Rendered, String> {
    let env = ENVIRONMENT.as_ref().map_err(Clone::clone)?;
    let context = minijinja::context! {
        organisation => organisation,
        name => name,
        lang => lang.as_str(),
        ..values
    };
    let base = format!("{}/{}", lang.as_str(), kind.as_str());
    let render = |name: String| {
        env.get_template(&name)
            .and_then(|t| t.render(&context))
            .map_err(|e| format!("{name}: {e:#}"))
    };
    let text = render(format!("{base}.txt"))?;
    let html = render(format!("{base}.html"))?;
    let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    // A subject is one line (a name with a line break in it must not add a header).
    let subject: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Ok(Rendered {
        subject: subject.trim().chars().take(300).collect(),
        // One line break at the end, as a text file has (the template's own is trimmed).
        text: format!("{}\n", body.trim_start_matches('\n').trim_end()),
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(kind: EmailKind) -> Value {
        match kind {
            EmailKind::Invite => minijinja::context! {
                token => "finv_abc", link => "https://app.example/invite?token=finv_abc",
                expires => "2026-12-10 09:00 (Europe/Oslo)",
            },
            EmailKind::PasswordReset => minijinja::context! {
                token => "finv_abc", link => Value::from(()), minutes => 60,
            },
            EmailKind::PasswordChanged => minijinja::context! { when => "2026-12-04 09:00 (UTC)" },
            EmailKind::EmailChanged => minijinja::context! {
                new_email => "p***@acme.example", when => "2026-12-04 09:00 (UTC)",
            },
            EmailKind::WeeklyDigest => minijinja::context! {
                team => "Oslo <Store>", from => "2026-11-23", to => "2026-11-29",
                recognitions => 7, points => 120, wins => 3,
                values => vec![minijinja::context! { name => "Care", count => 4 }],
                quiet => vec!["Ben"], quiet_more => 2, link => "https://app.example",
            },
        }
    }

    #[test]
    fn every_kind_renders_in_every_language_with_a_one_line_subject() {
        for lang in Language::ALL {
            for kind in EmailKind::ALL {
                let r = render(kind, lang, "Acme & Co", "Pia\nBcc: x@evil", values(kind))
                    .unwrap_or_else(|e| panic!("{lang} {kind}: {e:#}"));
                assert!(
                    !r.subject.is_empty() && !r.subject.contains('\n'),
                    "{lang} {kind}"
                );
                assert!(
                    !r.text.starts_with('\n') && r.text.ends_with('\n'),
                    "{lang} {kind}"
                );
                assert!(
                    r.html.contains(&format!("<html lang=\"{lang}\">")),
                    "{lang} {kind}"
                );
                // HTML escapes what it is given; text does not.
                assert!(r.html.contains("Acme &amp; Co"), "{lang} {kind}");
                assert!(r.text.contains("Acme & Co"), "{lang} {kind}");
            }
        }
    }

    #[test]
    fn a_token_and_its_link_are_in_both_bodies() {
        let r = render(
            EmailKind::Invite,
            Language::English,
            "Acme",
            "Pia",
            values(EmailKind::Invite),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(r.text.contains("Your invite code: finv_abc"));
        assert!(r.text.contains("https://app.example/invite?token=finv_abc"));
        // In HTML the link is escaped (`/` too), which a browser reads back as written.
        assert!(
            r.html
                .contains("<code style=\"font-size:15px\">finv_abc</code>")
        );
        assert!(
            r.html
                .contains("href=\"https:&#x2f;&#x2f;app.example&#x2f;invite?token=finv_abc\"")
        );
        let r = render(
            EmailKind::WeeklyDigest,
            Language::Norwegian,
            "Acme",
            "Pia",
            values(EmailKind::WeeklyDigest),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(r.html.contains("Oslo &lt;Store&gt;"));
        assert!(r.subject.starts_with("Uka til Oslo <Store>"));
    }
}
