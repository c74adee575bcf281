//! What Shiftwire's tests share: [`TestApp`] (the real application on an ephemeral port,
//! built as `serve` builds it), its HTTP and sign-in helpers, [`builders`] of nurses,
//! facilities and shifts, the test SMS sender and document store, the WebSocket test
//! client ([`ws`]), and the test-only database manipulations ([`db`]: moving clocks and
//! states where no API may). Tests use the domain crates' APIs for everything else.

pub mod builders;
pub mod db;
pub mod domain;
pub mod pages;
pub mod scale;
pub mod ws;

use async_trait::async_trait;
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use shiftwire_api::{
    AppState, Settings,
    application::{Application, Database},
    state::Providers,
};
use shiftwire_auth::{PasswordHasher, SmsError, SmsSender, Users, users::NewStaffUser};
use shiftwire_core::{CredentialKind, DomainEvent, Email, Phone, Role};
use shiftwire_matching::NewFacility;
use shiftwire_verification::{
    Credential, DocumentStore, FsDocumentStore, LicenseRegistry, TableRegistry,
    documents::StoreError,
};
use sqlx::PgPool;
use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const STAFF_PASSWORD: &str = "correct horse battery staple";

/// A 1×1 PNG: a photo ID or selfie as far as content sniffing goes.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// Records every SMS instead of sending it; can be told to fail, or to hold each send
/// until released (to keep a request in flight).
#[derive(Default)]
pub struct CapturingSms {
    sent: Mutex<Vec<(String, String)>>,
    pub fail: AtomicBool,
    pub hold: AtomicBool,
    pub entered: Notify,
    pub release: Notify,
}

#[async_trait]
impl SmsSender for CapturingSms {
    async fn send(&self, to: &Phone, body: &str) -> Result<(), SmsError> {
        if self.hold.load(Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(SmsError("gateway down".into()));
        }
        self.sent
            .lock()
            .expect("sms log")
            .push((to.as_e164().to_owned(), body.to_owned()));
        Ok(())
    }
}

impl CapturingSms {
    /// The bodies of the messages sent to `e164`, oldest first.
    pub fn sent_to(&self, e164: &str) -> Vec<String> {
        self.sent
            .lock()
            .expect("sms log")
            .iter()
            .filter(|(to, _)| to == e164)
            .map(|(_, body)| body.clone())
            .collect()
    }

    pub fn count_to(&self, e164: &str) -> usize {
        self.sent
            .lock()
            .expect("sms log")
            .iter()
            .filter(|(to, _)| to == e164)
            .count()
    }

    /// The code in the latest message to `e164`: the only 6-digit number in the body.
    pub fn last_code(&self, e164: &str) -> String {
        let sent = self.sent.lock().expect("sms log");
        let (_, body) = sent
            .iter()
            .rev()
            .find(|(to, _)| to == e164)
            .unwrap_or_else(|| panic!("no SMS was sent to {e164}"));
        let codes: Vec<&str> = body
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| w.len() == 6)
            .collect();
        assert_eq!(codes.len(), 1, "exactly one 6-digit number in {body:?}");
        codes[0].to_owned()
    }
}

/// The test app's document store: files in a temporary folder, and a `put` that can be
/// held until released (to keep an upload in flight).
pub struct HoldingStore {
    inner: FsDocumentStore,
    pub hold: AtomicBool,
    pub entered: Notify,
    pub release: Notify,
}

#[async_trait]
impl DocumentStore for HoldingStore {
    async fn put(&self, key: Uuid, bytes: bytes::Bytes) -> Result<(), StoreError> {
        if self.hold.load(Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.put(key, bytes).await
    }

    async fn get(&self, key: Uuid) -> Result<bytes::Bytes, StoreError> {
        self.inner.get(key).await
    }

    async fn delete(&self, key: Uuid) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
}

/// The registry table every test app checks licences against.
pub const TEST_REGISTRY: &str = "number,state,kind,holder_name,status,expires_on,discipline_flag
RN-100234,CA,RN,Amara Okafor,active,2028-03-31,false
RN-200001,CA,RN,Someone Else,active,2028-03-31,false
RN-200002,CA,RN,Amara Okafor,inactive,2028-03-31,false
RN-200003,CA,RN,Amara Okafor,active,2025-01-31,false
RN-200004,CA,RN,Amara Okafor,active,2028-03-31,true
RN-200005,CA,RN,Amara Okafor,active,2028-03-31,false
RN-200005,CA,RN,Amara Okafor,active,2028-03-31,false
RN-200006,CA,RN,Amara Okafor,active,2029-01-31,false
";

/// Shiftwire running on an ephemeral port of 127.0.0.1 against a test's database, with
/// its external effects replaced (SMS captured, documents in a temporary folder, the
/// registry a table) and its background work running. Stops when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub events:
        tokio::sync::Mutex<tokio::sync::broadcast::Receiver<shiftwire_core::PublishedEvent>>,
    pub documents_dir: tempfile::TempDir,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub sms: Arc<CapturingSms>,
    pub documents: Arc<HoldingStore>,
    /// The time the rules read: moved forward by a test, never slept for.
    pub clock: Arc<TestClock>,
    pub shutdown: CancellationToken,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stops the background tasks with the test.
        self.shutdown.cancel();
    }
}

/// Settings under which a WebSocket client may send 5 messages a second, in bursts of
/// 10: a flood shows at once.
pub fn five_messages_a_second(settings: &mut Settings) {
    settings.notify.messages_per_second = 5;
    settings.notify.message_burst = 10;
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, |_| {}).await
}

/// Starts the real application on an ephemeral port with `configure`d settings.
pub async fn spawn_app_with(pool: PgPool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let registry = TableRegistry::from_reader(TEST_REGISTRY.as_bytes()).expect("registry");
    spawn_app_with_registry(pool, configure, Arc::new(registry)).await
}

/// Starts the application with its background work (the automatic check) running,
/// built by [`Application::build`] as `shiftwire serve` builds it.
pub async fn spawn_app_with_registry(
    pool: PgPool,
    configure: impl FnOnce(&mut Settings),
    registry: Arc<dyn LicenseRegistry>,
) -> TestApp {
    let mut settings = Settings::for_tests();
    configure(&mut settings);
    let sms = Arc::new(CapturingSms::default());
    let documents_dir = tempfile::tempdir().expect("document dir");
    let documents = Arc::new(HoldingStore {
        inner: FsDocumentStore::new(documents_dir.path()).expect("store"),
        hold: AtomicBool::new(false),
        entered: Notify::new(),
        release: Notify::new(),
    });
    let clock = Arc::new(TestClock::default());
    let providers = Providers {
        sms: Some(sms.clone()),
        registry: Some(registry),
        documents: Some(documents.clone()),
        identity: None,
        push: None,
        clock: Some(clock.clone()),
    };
    let app = Application::build(settings, Database::Pool(pool.clone()), providers)
        .await
        .expect("the application starts");
    let state = app.state().clone();
    let addr = app.address();
    let shutdown = app.shutdown_token();
    let events = tokio::sync::Mutex::new(state.events.subscribe());
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        state,
        events,
        documents_dir,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        pool,
        sms,
        documents,
        clock,
        shutdown,
        server,
    }
}

/// A clock a test moves forward: the system's time plus how far it was advanced.
#[derive(Default)]
pub struct TestClock {
    ahead: Mutex<chrono::Duration>,
}

impl TestClock {
    pub fn advance(&self, by: chrono::Duration) {
        *self.ahead.lock().expect("clock") += by;
    }
}

impl shiftwire_core::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + *self.ahead.lock().expect("clock")
    }
}

impl TestApp {
    /// Waits (bounded) for the first published event that `wanted` accepts.
    pub async fn next_event(&self, wanted: impl Fn(&DomainEvent) -> bool) -> DomainEvent {
        let mut events = self.events.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Ok(published) if wanted(&published.event) => return published.event,
                    Ok(_) => continue,
                    Err(e) => panic!("event bus: {e}"),
                }
            }
        })
        .await
        .expect("the event arrived within 10 s")
    }

    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.client.patch(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("PATCH")
    }

    /// Signs a nurse in and gives them a name; returns (access token, user id).
    pub async fn named_nurse(&self, phone: &str, name: &str) -> (String, Uuid) {
        let pair = self.nurse_tokens(phone).await;
        let token = pair["access_token"].as_str().expect("token").to_owned();
        let response = self
            .patch("/v1/me", &json!({ "name": name }), Some(&token))
            .await;
        let id = builders::id_of(&assert_json(response, StatusCode::OK).await);
        (token, id)
    }

    /// Signs a nurse in with a profile name and a verified identity of that legal name
    /// (submitted over HTTP, approved by a verifier); returns (access token, user id).
    pub async fn verified_nurse(&self, phone: &str, legal_name: &str) -> (String, Uuid) {
        let (token, id) = self.named_nurse(phone, legal_name).await;
        self.verify_identity(&token, legal_name).await;
        (token, id)
    }

    /// A nurse with a verified identity of `legal_name` who submitted RN-100234, as the
    /// automatic check decided it; (access token, the licence).
    pub async fn checked_licence(&self, phone: &str, legal_name: &str) -> (String, Value) {
        let (token, _) = self.verified_nurse(phone, legal_name).await;
        let licence = self
            .submit_checked(&token, builders::rn_licence("RN-100234"))
            .await;
        (token, licence)
    }

    /// Submits an identity for the nurse of `token`; returns the response.
    pub async fn submit_identity(
        &self,
        token: &str,
        legal_name: &str,
        date_of_birth: &str,
    ) -> Response {
        let image = |name: &str| {
            reqwest::multipart::Part::bytes(PNG)
                .file_name(name.to_owned())
                .mime_str("image/png")
                .expect("mime")
        };
        let form = reqwest::multipart::Form::new()
            .text("legal_name", legal_name.to_owned())
            .text("date_of_birth", date_of_birth.to_owned())
            .part("id_document", image("licence.png"))
            .part("selfie", image("selfie.png"));
        self.client
            .post(self.url("/v1/me/identity"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("identity")
    }

    /// Submits an identity of `legal_name`, born 1990-04-17, for the nurse of `token`; it
    /// must be accepted. The identity.
    pub async fn submitted_identity(&self, token: &str, legal_name: &str) -> Value {
        let response = self.submit_identity(token, legal_name, "1990-04-17").await;
        assert_json(response, StatusCode::CREATED).await
    }

    /// Submits an identity and has a verifier approve it; returns the identity id.
    pub async fn verify_identity(&self, token: &str, legal_name: &str) -> Uuid {
        let id = builders::id_of(&self.submitted_identity(token, legal_name).await);
        self.state
            .verification
            .approve_identity(self.reviewer().await, id)
            .await
            .expect("approve identity");
        id
    }

    /// A verifier account to act as (created without a password: it never signs in).
    pub async fn reviewer(&self) -> Uuid {
        db::reviewer(&self.pool).await
    }

    /// Submits a credential and waits until the automatic check has decided it.
    pub async fn submit_checked(&self, token: &str, body: Value) -> Value {
        let response = self.post("/v1/me/credentials", &body, Some(token)).await;
        let id = builders::id_of(&assert_json(response, StatusCode::CREATED).await);
        self.credential_checked(id).await;
        self.credential(token, id).await
    }

    /// Waits (bounded) until the automatic check (or a re-check) of credential `id` has
    /// published its `verification.updated`.
    pub async fn credential_checked(&self, id: Uuid) {
        self.next_event(|e| matches!(e, DomainEvent::VerificationUpdated { credential_id, .. } if *credential_id == id))
            .await;
    }

    /// The nurse's credential `id` as she sees it (`GET /v1/me/credentials/{id}`).
    pub async fn credential(&self, token: &str, id: Uuid) -> Value {
        self.get_json(&format!("/v1/me/credentials/{id}"), token)
            .await
    }

    /// The nurse's credentials on file, as verification has them.
    pub async fn credentials_of(&self, nurse_id: Uuid) -> Vec<Credential> {
        self.state
            .verification
            .credentials_of(nurse_id)
            .await
            .expect("credentials")
    }

    /// The id of the nurse's (first) credential of `kind` on file.
    pub async fn credential_of_kind(&self, nurse_id: Uuid, kind: CredentialKind) -> Uuid {
        let credentials = self.credentials_of(nurse_id).await;
        let found = credentials.into_iter().find(|c| c.kind == kind);
        found
            .unwrap_or_else(|| panic!("the nurse has no {kind:?} on file"))
            .id
    }

    /// The caller's own profile (`GET /v1/me`).
    pub async fn me(&self, token: &str) -> Value {
        self.get_json("/v1/me", token).await
    }

    /// A verifier's (or an admin's) approval of credential `id`.
    pub async fn approve_credential(&self, token: &str, id: Uuid) -> Response {
        let path = format!("/v1/admin/credentials/{id}/approve");
        self.post(&path, &json!({}), Some(token)).await
    }

    /// A verifier's rejection of credential `id`, for `reason`.
    pub async fn reject_credential(&self, token: &str, id: Uuid, reason: &str) -> Response {
        let path = format!("/v1/admin/credentials/{id}/reject");
        self.post(&path, &json!({ "reason": reason }), Some(token))
            .await
    }

    /// A verifier's revocation of approved credential `id`, for `reason`.
    pub async fn revoke_credential(&self, token: &str, id: Uuid, reason: &str) -> Response {
        let path = format!("/v1/admin/credentials/{id}/revoke");
        self.post(&path, &json!({ "reason": reason }), Some(token))
            .await
    }

    /// A verifier's approval of identity `id`.
    pub async fn approve_identity(&self, token: &str, id: Uuid) -> Response {
        let path = format!("/v1/admin/identities/{id}/approve");
        self.post(&path, &json!({}), Some(token)).await
    }

    /// A verifier's rejection of identity `id`, for `reason`.
    pub async fn reject_identity(&self, token: &str, id: Uuid, reason: &str) -> Response {
        let path = format!("/v1/admin/identities/{id}/reject");
        self.post(&path, &json!({ "reason": reason }), Some(token))
            .await
    }

    /// An admin's suspension of nurse `nurse_id`, for `reason`.
    pub async fn suspend_nurse(&self, admin: &str, nurse_id: Uuid, reason: &str) -> Response {
        let path = format!("/v1/admin/nurses/{nurse_id}/suspend");
        self.post(&path, &json!({ "reason": reason }), Some(admin))
            .await
    }

    /// An admin's reinstatement of nurse `nurse_id`.
    pub async fn reinstate_nurse(&self, admin: &str, nurse_id: Uuid) -> Response {
        let path = format!("/v1/admin/nurses/{nurse_id}/reinstate");
        self.post(&path, &json!({}), Some(admin)).await
    }

    /// The account is suspended by an admin (created for it, `admin@shiftwire.example`)
    /// through the accounts service, for `reason`.
    pub async fn suspend_account(&self, user_id: Uuid, reason: &str) {
        let admin = self.create_admin().await;
        self.state
            .accounts
            .suspend(admin, user_id, reason)
            .await
            .expect("suspend");
    }

    /// Uploads `bytes` as the PDF document of the nurse's credential.
    pub async fn upload_document(
        &self,
        token: &str,
        credential: Uuid,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str("application/pdf")
            .expect("mime");
        self.client
            .post(self.url(&format!("/v1/me/credentials/{credential}/document")))
            .bearer_auth(token)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("upload")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("GET")
    }

    /// A GET that must answer 200; its JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        assert_json(self.get(path, Some(token)).await, StatusCode::OK).await
    }

    /// The page after `page` of the list at `path` (with its query, if any): `page` must
    /// have a next one.
    pub async fn next_page(&self, path: &str, page: &Value, token: &str) -> Value {
        let cursor = page["next_cursor"].as_str().expect("a next page");
        let joint = if path.contains('?') { '&' } else { '?' };
        self.get_json(&format!("{path}{joint}cursor={cursor}"), token)
            .await
    }

    /// A GET that must answer 200 (a document, say).
    pub async fn get_ok(&self, path: &str, token: &str) -> Response {
        let response = self.get(path, Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response
    }

    /// A GET of `path` with one more header.
    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> Response {
        let request = self.client.get(self.url(path)).header(name, value);
        request.send().await.expect("GET")
    }

    /// Each of `queries` appended to `path` is refused as unprocessable (422).
    pub async fn assert_queries_refused(&self, path: &str, token: &str, queries: &[&str]) {
        for query in queries {
            let response = self.get(&format!("{path}{query}"), Some(token)).await;
            let status = response.status();
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}{query}");
        }
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    pub async fn request_code(&self, phone: &str) -> Response {
        self.post("/v1/auth/otp", &json!({ "phone": phone }), None)
            .await
    }

    pub async fn verify_code(&self, phone: &str, code: &str) -> Response {
        self.post(
            "/v1/auth/otp/verify",
            &json!({ "phone": phone, "code": code }),
            None,
        )
        .await
    }

    /// Requests a sign-in code for `phone` (the request must be accepted); the code the
    /// SMS carried.
    pub async fn texted_code(&self, phone: &str) -> String {
        assert_eq!(
            self.request_code(phone).await.status(),
            StatusCode::ACCEPTED
        );
        let e164 = Phone::parse(phone).expect("phone").as_e164().to_owned();
        self.sms.last_code(&e164)
    }

    /// Signs a nurse in by SMS and returns the token pair.
    pub async fn nurse_tokens(&self, phone: &str) -> Value {
        let code = self.texted_code(phone).await;
        assert_json(self.verify_code(phone, &code).await, StatusCode::OK).await
    }

    /// Signs a nurse in by SMS; her session's tokens.
    pub async fn nurse_session(&self, phone: &str) -> Session {
        let pair = self.nurse_tokens(phone).await;
        let token = |name: &str| pair[name].as_str().expect(name).to_owned();
        Session {
            access: token("access_token"),
            refresh: token("refresh_token"),
        }
    }

    /// Spends a refresh token for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        let body = json!({ "refresh_token": refresh_token });
        self.post("/v1/auth/refresh", &body, None).await
    }

    /// Signs the session of a refresh token out.
    pub async fn sign_out(&self, refresh_token: &str) -> Response {
        let body = json!({ "refresh_token": refresh_token });
        self.post("/v1/auth/logout", &body, None).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/v1/auth/login",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await
    }

    /// Creates a staff user directly (as the CLI does) and returns its id.
    pub async fn create_staff(&self, email: &str, role: Role, facility_ids: Vec<Uuid>) -> Uuid {
        let hasher = PasswordHasher::new(1).expect("hasher");
        Users::new(self.pool.clone())
            .create_staff(
                &hasher,
                NewStaffUser {
                    email: Email::parse(email).expect("email"),
                    password: SecretString::from(STAFF_PASSWORD),
                    role,
                    facility_ids,
                },
            )
            .await
            .expect("create staff")
            .id
    }

    /// Creates a staff user and signs them in; returns the access token.
    pub async fn staff_token(&self, email: &str, role: Role, facility_ids: Vec<Uuid>) -> String {
        self.create_staff(email, role, facility_ids).await;
        self.staff_signed_in(email).await
    }

    /// Signs a staff member in with [`STAFF_PASSWORD`]; returns the access token.
    pub async fn staff_signed_in(&self, email: &str) -> String {
        let pair = assert_json(self.login(email, STAFF_PASSWORD).await, StatusCode::OK).await;
        pair["access_token"].as_str().expect("token").to_owned()
    }

    /// The admin's account, `admin@shiftwire.example` (not signed in); its id.
    pub async fn create_admin(&self) -> Uuid {
        self.create_staff("admin@shiftwire.example", Role::Admin, vec![])
            .await
    }

    /// The verifier's account, `verifier@shiftwire.example` (not signed in); its id.
    pub async fn create_verifier(&self) -> Uuid {
        self.create_staff("verifier@shiftwire.example", Role::Verifier, vec![])
            .await
    }

    /// The admin, `admin@shiftwire.example`, created and signed in.
    pub async fn admin_token(&self) -> String {
        self.create_admin().await;
        self.staff_signed_in("admin@shiftwire.example").await
    }

    /// The verifier, `verifier@shiftwire.example`, created and signed in.
    pub async fn verifier_token(&self) -> String {
        self.create_verifier().await;
        self.staff_signed_in("verifier@shiftwire.example").await
    }

    /// A shift as its facility's schedulers see it.
    pub async fn shift(&self, facility_id: Uuid, shift_id: Uuid) -> shiftwire_matching::Shift {
        self.state
            .matching
            .shift(&[facility_id], shift_id)
            .await
            .expect("shift")
    }

    /// A facility at [`builders::FACILITY_AT`] in CA, geofence 200 m.
    pub async fn create_facility(&self, name: &str) -> Uuid {
        let (lat, lon) = builders::FACILITY_AT;
        self.state
            .matching
            .create_facility(NewFacility {
                name: name.into(),
                address: "1 Main St".into(),
                location: shiftwire_core::Coordinates::new(lat, lon).expect("location"),
                timezone: "America/Los_Angeles".into(),
                state: shiftwire_core::UsState::parse("CA").expect("state"),
                geofence_m: 200,
            })
            .await
            .expect("facility")
            .id
    }
}

/// A signed-in session's tokens.
pub struct Session {
    pub access: String,
    pub refresh: String,
}

/// Asserts a JSON response with this status (the body is in the message if not);
/// returns the body.
pub async fn assert_json(response: Response, status: StatusCode) -> Value {
    let (actual, path) = (response.status(), response.url().path().to_owned());
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "{path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
}

/// Waits (bounded, 10 s) until `condition` holds, asking again every 20 ms; `what` names
/// it in the failure.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !condition().await {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "not within 10 s: {what}");
}

/// A verifier's rejection (of a credential or an identity) was taken: 200, the case
/// `rejected` with `reason` recorded. The case.
pub async fn assert_rejected(response: Response, reason: &str) -> Value {
    let rejected = assert_json(response, StatusCode::OK).await;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(rejected["decision_reason"], reason, "{rejected}");
    rejected
}

/// How many of `answers` have this status.
pub fn count_answered(answers: &[Response], status: StatusCode) -> usize {
    answers.iter().filter(|r| r.status() == status).count()
}

/// Asserts a problem+json response with this status and code; returns the body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], format!("urn:shiftwire:problem:{code}"));
    assert!(
        body["title"].is_string() && body["detail"].is_string(),
        "{body}"
    );
    body
}
