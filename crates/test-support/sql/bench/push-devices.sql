-- Bench only, `scripts/bench.sh push`: a registered phone (an Android device token) for
-- every synthetic nurse, and no socket anywhere (the presence table stays empty): every
-- eligible nurse is one to push. Prints how many devices.

INSERT INTO devices (id, nurse_id, platform, token)
SELECT gen_random_uuid(), u.id, 'android', 'bench-device-' || u.id
FROM users u WHERE u.role = 'nurse' AND u.name LIKE 'Bench nurse %';

SELECT count(*) FROM devices;
