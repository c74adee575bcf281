-- Bench only, `scripts/bench.sh recheck`: a registry table of :licences active RN licences
-- (written as CSV to :registry_csv, which the server loads as LICENSE_REGISTRY_CSV) and one
-- nurse per 40 of them, each with a verified identity in the holder's name and those 40
-- licences approved, every one a clean match. Prints the number of approved licences.
-- psql -v licences=N -v registry_csv=FILE (a path without spaces: \g takes it unquoted)

-- Each nurse's name is letters only (her number in hex, digits written as letters), as a
-- legal name is.
CREATE TEMP TABLE registry AS
  SELECT 'RN-R' || lpad(g::text, 7, '0') AS number, 'CA'::text AS state, 'RN'::text AS kind,
         'Nurse ' || initcap(translate(lpad(to_hex(g / 40), 4, '0'), '0123456789', 'ghijklmnop'))
           AS holder_name,
         'active'::text AS status, date '2028-03-31' AS expires_on, 'false'::text AS discipline_flag
  FROM generate_series(0, :licences - 1) AS g;
COPY registry TO STDOUT WITH (FORMAT csv, HEADER true) \g :registry_csv
CREATE TEMP TABLE bench_nurses AS
  SELECT gen_random_uuid() AS id, holder_name, row_number() OVER (ORDER BY holder_name) AS k
  FROM (SELECT DISTINCT holder_name FROM registry) names;
INSERT INTO users (id, role, phone, name)
  SELECT id, 'nurse', '+1555' || lpad(k::text, 7, '0'), holder_name FROM bench_nurses;
INSERT INTO identities (id, nurse_id, legal_name, date_of_birth, status, provider,
                        id_document_key, id_document_type, id_document_sha256,
                        selfie_key, selfie_type, selfie_sha256, decided_at)
  SELECT gen_random_uuid(), id, holder_name, '1990-04-17', 'verified', 'manual',
         gen_random_uuid()::text, 'image/png', '\x00', gen_random_uuid()::text, 'image/png', '\x00', now()
  FROM bench_nurses;
INSERT INTO credentials (id, nurse_id, kind, number, issuing_state, expires_on, status,
                         checked_at, registry_checked_at, decided_at, recheck_due_at)
  SELECT gen_random_uuid(), n.id, r.kind, r.number, r.state, r.expires_on, 'approved',
         now(), now(), now(), now() + interval '30 days'
  FROM registry r JOIN bench_nurses n USING (holder_name);
ANALYZE users; ANALYZE identities; ANALYZE credentials;
SELECT count(*) FROM credentials WHERE status = 'approved';
