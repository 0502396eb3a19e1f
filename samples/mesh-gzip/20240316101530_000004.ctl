<DTSControl>
  <Version>1.0</Version>
  <AddressType>DTS</AddressType>
  <MessageType>Data</MessageType>
  <From_DTS>X26HC001</From_DTS>
  <To_DTS>706LAOT001</To_DTS>
  <Subject>CP-IS Access to Service Notification</Subject>
  <LocalId>CPIS-ASN-8C0D2E6F</LocalId>
  <DTSId>20240316101530447120_9B2D41</DTSId>
  <PartnerId></PartnerId>
  <Compress>Y</Compress>
  <Encrypted>N</Encrypted>
  <WorkflowId>CPIS_ASN</WorkflowId>
  <ProcessId></ProcessId>
  <DataChecksum>7b0c3a1e</DataChecksum>
  <IsCompressed>Y</IsCompressed>
  <StatusRecord>
    <DateTime>20240316101530</DateTime>
    <Event>TRANSFER</Event>
    <Status>SUCCESS</Status>
    <StatusCode>00</StatusCode>
    <Description>Transferred to recipient mailbox</Description>
  </StatusRecord>
</DTSControl>
