-- a neutralized copy must never talk to the live M-Pesa account nor accept its callbacks
UPDATE mpesa_config
   SET environment = 'sandbox',
       consumer_key = NULL,
       consumer_secret = NULL,
       passkey = NULL,
       initiator_password = NULL,
       security_credential = NULL,
       callback_token = md5(random()::text || clock_timestamp()::text || id::text),
       c2b_registered = FALSE;
DELETE FROM mpesa_oauth_token;
