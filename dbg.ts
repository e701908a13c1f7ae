import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { ConfidentialClientApplication } from '@azure/msal-node';
const cert = readFileSync('.stack/certs/app.crt', 'utf8');
const key = readFileSync('.stack/certs/app.key', 'utf8');
const c = new X509Certificate(cert);
const thumbprintSha256 = c.fingerprint256.replace(/:/g, '');
console.log('sha256 b64url', Buffer.from(thumbprintSha256, 'hex').toString('base64url'));
(async () => {
  const app = new ConfidentialClientApplication({ auth: { clientId: 'x', authority: 'https://login.microsoftonline.com/t', clientCertificate: { thumbprintSha256, privateKey: key, x5c: cert } } });
  // access internal assertion creation via a token request to a bogus URL is complex; instead use ClientAssertion util
  const msal: any = await import('@azure/msal-node');
  console.log(Object.keys(msal).filter(k => /Assert/i.test(k)));
})();
